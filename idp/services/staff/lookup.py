"""Finding patrons for the console (by name or e-mail) and a patron's recent history."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron

#: At most this many patrons in a search result.
MAX_RESULTS = 50


def search_patrons(text: str) -> list[Patron]:
    """Patrons whose name or e-mail contains ``text`` (case-insensitive), by card number."""
    needle = text.strip()
    if len(needle) < 2:
        return []
    escaped = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    query = (
        select(Patron)
        .where(
            or_(
                func.lower(Patron.name).like(pattern, escape="\\"),
                func.lower(Patron.email).like(pattern, escape="\\"),
                func.lower(Patron.email2).like(pattern, escape="\\"),
            )
        )
        .order_by(Patron.card_number)
        .limit(MAX_RESULTS)
    )
    return list(db.session.scalars(query))


def patron_history(patron_id: int, limit: int = 30) -> list[AuditEvent]:
    """The patron's latest security events and staff actions, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.patron_id == patron_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def recent_events(
    *, actor: str | None = None, event: str | None = None, limit: int = 200
) -> list[AuditEvent]:
    """The latest audit events, newest first, optionally of one actor or one event name."""
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor == actor.strip().lower())
    if event:
        query = query.where(AuditEvent.event == event.strip())
    return list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))
