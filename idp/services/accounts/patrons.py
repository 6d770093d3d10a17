"""Patrons: finding and issuing cards, the input rules of SPEC §1.

Checking a password is the sign-in core's job (:mod:`idp.services.signin`).
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from sqlalchemy import select

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.cards.numbers import normalize_card_number
from idp.services.cards.numbers import validate_card_number
from idp.services.container import container
from idp.services.passwords import generate_temporary_password


class PatronError(ValueError):
    """A staff or import request about a patron cannot be carried out."""


def normalize_password(raw: str) -> str:
    """NFKC-normalise a typed password, so that full-width input is the same password."""
    return unicodedata.normalize("NFKC", raw)


def find_patron(card_number: str) -> Patron | None:
    """The patron with this (normalised) card number, or None."""
    found: Patron | None = db.session.scalar(
        select(Patron).where(Patron.card_number == card_number)
    )
    return found


def issue_patron(
    card_number: str,
    expires_on: dt.date,
    *,
    name: str | None = None,
    email: str | None = None,
    password: str | None = None,
) -> tuple[Patron, str | None]:
    """Create a patron. Without ``password`` a temporary one is generated.

    :return: the new patron (added to the session, not committed) and the generated
        temporary password, which is never stored in clear and cannot be recovered.
    :raises PatronError: for a malformed or already used card number.
    """
    svc = container()
    card = normalize_card_number(card_number)
    if not is_valid_card_number(card):
        raise PatronError("card number does not match the configured pattern or check digit")
    if find_patron(card) is not None:
        raise PatronError("card number already issued")
    temporary = None
    if password is None:
        temporary = generate_temporary_password(svc.settings.accounts.temporary_password_length)
    patron = Patron(
        card_number=card,
        password_hash=svc.passwords.hash(temporary or password or ""),
        is_temporary_password=temporary is not None,
        temporary_password_expires_at=temporary_expiry(svc.now()) if temporary else None,
        expires_on=expires_on,
        name=name or None,
        email=email or None,
    )
    # A number that was guessed before it was issued starts with a clean slate.
    from idp.services.signin import lockout  # the core imports this module

    lockout.clear_failures(card)
    db.session.add(patron)
    return patron, temporary


def temporary_expiry(now: dt.datetime) -> dt.datetime | None:
    """When a temporary password issued now stops working (None: never)."""
    days = int(container().settings.accounts.temporary_password_days or 0)
    return now + dt.timedelta(days=days) if days > 0 else None


def is_valid_card_number(card_number: str) -> bool:
    """Tell whether a card number can be a card of this library.

    The number is NFKC-normalised first (full-width digits, hyphens and spaces as people
    type them, see :func:`~idp.services.cards.numbers.normalize_card_number`), then must
    match ``IDP_CARD_NUMBER_PATTERN`` in full and satisfy ``IDP_CARD_CHECK_DIGIT``. Every
    way a card number comes in (issue, import, login, the credential-check API, SIP2 and
    the desk's card verification) asks this one function.

    :param card_number: the card number, as typed or already normalised.
    :return: True when it is well formed under the configuration.
    """
    settings = container().settings
    return validate_card_number(
        normalize_card_number(card_number),
        pattern=settings.accounts.card_number_pattern,
        check_digit=settings.accounts.card_check_digit,
    )
