"""The library counter's actions on a patron (SPEC §6): issue, reset, renew, status,
unlock, look-up — for the ``idp patrons`` commands and the staff console alike.

Each function finds the card first and raises :class:`PatronError` for an unknown card
or a bad value before changing anything; each action is audited under the staff member
or operator who did it (:class:`~idp.services.staff.actor.Actor`, with the reason they
gave), never with a secret.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from idp.extensions import db
from idp.models.patron import Patron
from idp.models.patron import PatronStatus
from idp.services.accounts.passkeys import passkeys_of
from idp.services.accounts.patrons import PatronError
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.patrons import issue_patron
from idp.services.accounts.patrons import temporary_expiry
from idp.services.cards.numbers import normalize_card_number
from idp.services.container import container
from idp.services.logout import end_all_sessions
from idp.services.passwords import generate_temporary_password
from idp.services.signin import unlock_patron
from idp.services.staff.actor import Actor
from idp.services.staff.actor import cli_actor

#: Longest reason kept in the audit log.
MAX_REASON = 500


def _actor(actor: Actor | None) -> Actor:
    """The given actor, or the OS user of an ``idp`` command."""
    return actor if actor is not None else cli_actor()


def _reason(reason: str | None) -> str | None:
    return (reason or "").strip()[:MAX_REASON] or None


def patron_by_card(card_number: str) -> Patron:
    """The patron with this card number.

    :raises PatronError: when there is none.
    """
    card = normalize_card_number(card_number)
    patron = find_patron(card) if card else None
    if patron is None:
        raise PatronError(f"no patron has the card number {card or card_number!r}")
    return patron


def issue_card(
    card_number: str,
    expires_on: dt.date,
    *,
    name: str | None = None,
    email: str | None = None,
    actor: Actor | None = None,
    reason: str | None = None,
) -> tuple[Patron, str]:
    """Issue a card with a generated temporary password.

    :return: the patron and the temporary password (shown once, never stored).
    """
    patron, temporary = issue_patron(card_number, expires_on, name=name, email=email)
    assert temporary is not None  # noqa: S101 - no password given: one is generated
    db.session.flush()
    who = _actor(actor)
    who.audit("patron.issued", patron_id=patron.id, reason=_reason(reason))
    who.audit("password.temporary_issued", patron_id=patron.id)
    return patron, temporary


def unlock(card_number: str, *, actor: Actor | None = None, reason: str | None = None) -> bool:
    """Unlock a card locked after too many wrong passwords and clear its delays.

    :return: whether the card was locked.
    """
    patron = patron_by_card(card_number)
    was_locked = patron.locked_at is not None
    unlock_patron(patron)
    _actor(actor).audit(
        "patron.unlocked", patron_id=patron.id, reason=_reason(reason), was_locked=was_locked
    )
    return was_locked


def reset_password(
    card_number: str, *, actor: Actor | None = None, reason: str | None = None
) -> tuple[Patron, str]:
    """A new temporary password at the counter; ends every session and refresh token.

    Also clears the lock and the failure count.

    :return: the patron and the new temporary password (shown once, never stored).
    """
    patron = patron_by_card(card_number)
    svc = container()
    unlock_patron(patron)  # first: the limiter forgets the card in its own transaction
    temporary = generate_temporary_password(svc.settings.accounts.temporary_password_length)
    now = svc.now()
    patron.password_hash = svc.passwords.hash(temporary)
    patron.is_temporary_password = True
    patron.temporary_password_expires_at = temporary_expiry(now)
    patron.password_changed_at = now
    patron.password_version = (patron.password_version or 1) + 1
    end_all_sessions(patron.id, reason="password.reset")
    who = _actor(actor)
    who.audit("password.reset", patron_id=patron.id, reason=_reason(reason))
    who.audit("password.temporary_issued", patron_id=patron.id)
    return patron, temporary


def renew(
    card_number: str,
    expires_on: dt.date,
    *,
    actor: Actor | None = None,
    reason: str | None = None,
) -> Patron:
    """Set a new card expiry date (today or later, in the library's time zone)."""
    patron = patron_by_card(card_number)
    today = container().now().astimezone(ZoneInfo(container().settings.site.timezone)).date()
    if expires_on < today:
        raise PatronError(f"the new expiry date {expires_on.isoformat()} is in the past")
    previous = patron.expires_on
    patron.expires_on = expires_on
    _actor(actor).audit(
        "patron.renewed",
        patron_id=patron.id,
        reason=_reason(reason),
        previous=previous.isoformat(),
        expires_on=expires_on.isoformat(),
    )
    return patron


def set_status(
    card_number: str, status: str, *, actor: Actor | None = None, reason: str | None = None
) -> Patron:
    """Change the card status; any status but active ends every sign-in."""
    try:
        new = PatronStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in PatronStatus)
        raise PatronError(f"unknown status {status!r} (use one of: {choices})") from None
    patron = patron_by_card(card_number)
    previous = patron.status
    patron.status = new.value
    if new is not PatronStatus.ACTIVE:
        end_all_sessions(patron.id, reason=f"status.{new.value}")
    _actor(actor).audit(
        "patron.status_changed",
        patron_id=patron.id,
        reason=_reason(reason),
        previous=previous,
        status=new.value,
    )
    return patron


def describe(card_number: str, *, actor: Actor | None = None) -> dict[str, Any]:
    """What the counter may see about a card: never a password, hash or address."""
    patron = patron_by_card(card_number)
    svc = container()
    now = svc.now()
    zone = ZoneInfo(svc.settings.site.timezone)

    def local(value: dt.datetime | None) -> str | None:
        return value.astimezone(zone).isoformat(timespec="minutes") if value else None

    facts = {
        "card_number": patron.card_number,
        "name": patron.name,
        "status": patron.status,
        "expires_on": patron.expires_on.isoformat(),
        "card_expired": patron.is_card_expired(now, svc.settings.site.timezone),
        "temporary_password": patron.is_temporary_password,
        "temporary_password_expires_at": local(patron.temporary_password_expires_at)
        if patron.is_temporary_password
        else None,
        "temporary_password_expired": patron.is_temporary_password_expired(now),
        "email_registered": bool(patron.email or patron.email2),
        "email_verified": bool(
            (patron.email and patron.is_email_verified)
            or (patron.email2 and patron.is_email2_verified)
        ),
        "locked": patron.locked_at is not None,
        "locked_at": local(patron.locked_at),
        "failed_login_count": patron.failed_login_count,
        "last_login_at": local(patron.last_login_at),
        "passkeys": len(passkeys_of(patron.id)),
    }
    _actor(actor).audit("patron.viewed", patron_id=patron.id)
    return facts
