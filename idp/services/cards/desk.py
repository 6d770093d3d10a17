"""The circulation desk's check of a scanned card: one code path for the desk API
(``POST /api/card/verify``) and the staff console's scan page (SPEC §5, §6).

:func:`desk_reserve` reserves the caller's check and a possible refused code in the
sign-in limiter before anything is checked; :func:`desk_verify` checks the code once
(replay memory), settles the reservation (only guess-like refusals count for the day)
and audits the outcome. The caller is a client id (API) or ``staff:USERNAME`` (console);
``meta`` carries who and where for the audit rows.
"""

from __future__ import annotations

from typing import Any

from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.patrons import is_valid_card_number
from idp.services.cards.service import VerifyResult
from idp.services.cards.service import normalize_scan
from idp.services.cards.service import verify_code
from idp.services.container import container
from idp.services.signin import Slot
from idp.services.signin import limiter
from idp.services.signin.limiter import Reservation

#: Refusals that count toward the caller's daily limit (guessing, not a patron's mishap).
COUNTED_REFUSALS = frozenset({"malformed", "unknown", "expired_code"})


def desk_reserve(caller: str) -> Reservation:
    """Reserve one check and one refused code of ``caller`` (refused: ``.wait`` seconds)."""
    return limiter().reserve(
        [Slot("card_verify_client", caller), Slot("card_verify_failures", caller)]
    )


def desk_verify(raw: str, reservation: Reservation, meta: dict[str, Any]) -> VerifyResult:
    """Check a scanned value and use its code up; audit ``card.verified`` or ``card.refused``.

    :param raw: the value as scanned or typed.
    :param reservation: from :func:`desk_reserve`, allowed.
    :param meta: audit fields (``ip``, ``user_agent``, ``client_id`` or ``actor``, …).
    """
    result = verify_code(raw, container().now())
    patron_id = result.patron.id if result.patron is not None else None
    limiter().settle(reservation, succeeded=result.reason not in COUNTED_REFUSALS)
    if result.is_valid:
        audit.record("card.verified", patron_id=patron_id, **meta)
    else:
        audit.record("card.refused", patron_id=patron_id, reason=result.reason, **meta)
    return result


def plain_card(raw: str) -> Patron | None:
    """The patron whose printed card number ``raw`` is (a plastic card, no code), or None.

    Only a value that is a well-formed card number of an issued card counts; anything
    else is a phone code for :func:`desk_verify`.
    """
    value = normalize_scan(raw)
    if not value or not is_valid_card_number(value):
        return None
    return find_patron(value)
