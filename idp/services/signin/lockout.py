"""The durable failure count and lock of a card number, issued or not (SPEC §7).

The limiter's per-card counter decides the delays; this table keeps the consecutive
failures that lock a card, so that a lock survives a Redis flush. Every function runs
the same statements whether or not a patron has the card: a wrong password for an
unknown card number must cost exactly what one for a real card costs, or its timing
tells an attacker which card numbers exist (docs/security.md). None of them commits: a
failure is counted and a card locked in the session of a refusal's own transaction
(:func:`idp.services.signin.core.refusal`), the rest in the face's unit of work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.extensions import upsert_insert
from idp.models.card_failure import CardFailure
from idp.models.patron import Patron


@dataclass(frozen=True)
class FailureState:
    """A card's consecutive failures and, once it locked, when."""

    count: int = 0
    locked_at: dt.datetime | None = None


def failure_state(card_number: str) -> FailureState:
    """The failures counted for a normalised card number (none: ``FailureState()``)."""
    row = db.session.execute(
        select(CardFailure.count, CardFailure.locked_at).where(
            CardFailure.card_number == card_number
        )
    ).first()
    return FailureState(int(row[0]), row[1]) if row is not None else FailureState()


def record_failure(session: Session, card_number: str, now: dt.datetime) -> int:
    """Count one more consecutive failure (one atomic upsert); return the new count.

    :param session: the refusal's own session.
    """
    insert = upsert_insert(session.get_bind().dialect.name)
    stmt = insert(CardFailure).values(card_number=card_number, count=1, last_failed_at=now)
    upsert = stmt.on_conflict_do_update(
        index_elements=[CardFailure.card_number],
        set_={"count": CardFailure.count + 1, "last_failed_at": now},
    ).returning(CardFailure.count)
    return int(session.execute(upsert).scalar_one())


def lock_card(session: Session, card_number: str, now: dt.datetime) -> None:
    """Lock the card: in ``card_failures``, and on the patron's row when there is one.

    The patron row's update runs for an unknown card too (and changes no row), so that
    locking costs the same statements for both.

    :param session: the refusal's own session (the caller expires the face's copy).
    """
    session.execute(
        update(CardFailure)
        .where(CardFailure.card_number == card_number, CardFailure.locked_at.is_(None))
        .values(locked_at=now)
    )
    session.execute(
        update(Patron)
        .where(Patron.card_number == card_number, Patron.locked_at.is_(None))
        .values(locked_at=now)
        .execution_options(synchronize_session=False)
    )


def clear_failures(card_number: str) -> None:
    """Forget the card's failures and lock (a correct sign-in, an unlock, a re-issue)."""
    db.session.execute(delete(CardFailure).where(CardFailure.card_number == card_number))


def unlock_card(card_number: str) -> None:
    """Clear the lock, failure count and delays of a normalised card number, issued or not.

    The limiter's counter is forgotten at once (its own transaction); the caller commits
    the rest.
    """
    from idp.services.signin.limiter import limiter

    limiter().clear("card", card_number)
    clear_failures(card_number)


def unlock_patron(patron: Patron) -> None:
    """Clear a card's lock and failure counters (staff unlock, password re-issue).

    The caller records the audit event and commits.
    """
    unlock_card(patron.card_number)
    patron.locked_at = None
