"""Audit event: one security event, never with a password, code or token (SPEC §6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """A row of the audit log."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(
            "ix_audit_events_actor",
            "actor",
            sqlite_where=text("actor IS NOT NULL"),
            postgresql_where=text("actor IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    patron_id: Mapped[int | None] = mapped_column(Integer, index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    #: Who did it: a staff member's username (console or ``--staff``) or the OS user
    #: running an ``idp`` command; None for patrons' and clients' own events, which the
    #: index leaves out (a sign-in or a token issue does not write it).
    actor: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
