"""Purge: delete what has expired, so that no table grows without bound (SPEC §7).

Each rule names a table, its key and the condition under which a row is no longer
needed. Rows go in small batches, each in its own short transaction, so that a purge of
a large backlog never holds locks for long; this is maintenance work that owns its
transactions (``idp purge`` and the periodic purge in the server both call
:func:`purge`). :func:`take_lease` makes one node of many run the periodic purge.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.authorization_code import AuthorizationCode
from idp.models.card_code import UsedCardCode
from idp.models.card_failure import CardFailure
from idp.models.device import DeviceAuthorization
from idp.models.lease import MaintenanceLease
from idp.models.patron import Patron
from idp.models.session import LoginSession
from idp.models.throttle import ThrottleCounter
from idp.models.token import Token
from idp.settings import Settings

#: Name of the periodic purge's lease row.
PURGE_LEASE = "purge"


@dataclass(frozen=True)
class Rule:
    """Rows of ``table`` (found by ``key``) that ``condition`` says may go."""

    table: str
    key: InstrumentedAttribute[Any]
    condition: Callable[[dt.datetime, Settings], ColumnElement[bool] | None]


def _sessions(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    # Pending authorization requests live in the session record and go with it.
    idle = dt.timedelta(seconds=settings.sessions.idle_timeout)
    return or_(LoginSession.expires_at <= now, LoginSession.last_seen_at <= now - idle)


def _codes(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    # Kept for an ID token's lifetime after expiry: ``exists_nonce`` still refuses a
    # replayed nonce while an ID token carrying it may be in use.
    keep = dt.timedelta(seconds=settings.tokens.id_token_ttl)
    return AuthorizationCode.expires_at <= now - keep


def _device(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    # A used device code's tokens live in ``tokens``; the request itself ends at expiry.
    return DeviceAuthorization.expires_at <= now


def _tokens(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    # The later expiry (:func:`idp.models.token.kept_until`): a rotated or revoked
    # refresh token stays recognisable as reuse until it would have expired.
    return Token.kept_until <= now


def _card_codes(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    return UsedCardCode.expires_at <= now


def _throttle(now: dt.datetime, settings: Settings) -> ColumnElement[bool]:
    return ThrottleCounter.expires_at <= now


def _card_failures(now: dt.datetime, settings: Settings) -> ColumnElement[bool] | None:
    # Only card numbers no patron has, not locked, with no failure for the forget period:
    # an issued card's count toward the lock stays until a correct sign-in or an unlock.
    forget = settings.throttle.card_forget
    if forget <= 0:
        return None
    return (
        CardFailure.locked_at.is_(None)
        & (CardFailure.last_failed_at <= now - dt.timedelta(seconds=forget))
        & ~select(Patron.id).where(Patron.card_number == CardFailure.card_number).exists()
    )


def _audit(now: dt.datetime, settings: Settings) -> ColumnElement[bool] | None:
    days = settings.purge.audit_retention_days
    if days <= 0:
        return None
    return AuditEvent.created_at <= now - dt.timedelta(days=days)


#: Every table that grows with use, in the order they are purged.
RULES: tuple[Rule, ...] = (
    Rule("login_sessions", LoginSession.id, _sessions),
    Rule("authorization_codes", AuthorizationCode.id, _codes),
    Rule("device_authorizations", DeviceAuthorization.id, _device),
    Rule("tokens", Token.id, _tokens),
    Rule("used_card_codes", UsedCardCode.key, _card_codes),
    Rule("throttle_counters", ThrottleCounter.key, _throttle),
    Rule("card_failures", CardFailure.card_number, _card_failures),
    Rule("audit_events", AuditEvent.id, _audit),
)


def purge(
    now: dt.datetime,
    settings: Settings,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
) -> dict[str, int]:
    """Delete (or with ``dry_run`` only count) the rows no longer needed, per table.

    Commits after every batch of at most ``batch_size`` rows (``IDP_PURGE_BATCH``).

    :return: rows deleted (or that would be) per table name, every table listed.
    """
    size = max(1, batch_size or settings.purge.batch)
    counts: dict[str, int] = {}
    for rule in RULES:
        condition = rule.condition(now, settings)
        if condition is None:
            counts[rule.table] = 0
            continue
        if dry_run:
            query = select(func.count()).select_from(rule.key.class_).where(condition)
            counts[rule.table] = int(db.session.scalar(query) or 0)
            db.session.rollback()
            continue
        counts[rule.table] = _delete_in_batches(rule, condition, size)
    return counts


def _delete_in_batches(rule: Rule, condition: ColumnElement[bool], size: int) -> int:
    total = 0
    while True:
        keys = list(db.session.scalars(select(rule.key).where(condition).limit(size)))
        if not keys:
            db.session.rollback()
            return total
        result = db.session.execute(
            delete(rule.key.class_).where(rule.key.in_(keys)).where(condition),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        total += int(result.rowcount or 0)  # type: ignore[attr-defined]
        if len(keys) < size:
            return total


def holder_name() -> str:
    """This process, as written in a lease: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def take_lease(name: str, now: dt.datetime, seconds: int, holder: str) -> bool:
    """Take the lease ``name`` until ``now + seconds`` if nobody holds it now.

    One conditional ``UPDATE`` (or the first ``INSERT``), committed at once: of several
    nodes asking together exactly one gets True.
    """
    until = now + dt.timedelta(seconds=seconds)
    taken = db.session.execute(
        update(MaintenanceLease)
        .where(MaintenanceLease.name == name, MaintenanceLease.expires_at <= now)
        .values(holder=holder, expires_at=until)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        db.session.commit()
        return True
    db.session.rollback()
    if db.session.get(MaintenanceLease, name) is not None:
        db.session.rollback()
        return False
    try:
        db.session.execute(
            insert(MaintenanceLease).values(name=name, holder=holder, expires_at=until)
        )
        db.session.commit()
    except IntegrityError:  # another node inserted it first
        db.session.rollback()
        return False
    return True
