"""Login session: the server-side record behind the browser's session cookie."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow


class LoginSession(db.Model):  # type: ignore[name-defined,misc]
    """A browser session. The cookie holds a random id; only its hash is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Public session id for the ``sid`` claim; stable for one login.
    sid: Mapped[str] = mapped_column(String(64), index=True)
    patron_id: Mapped[int | None] = mapped_column(
        ForeignKey("patrons.id", ondelete="CASCADE"), index=True
    )
    auth_time: Mapped[int | None] = mapped_column(Integer)
    #: Non-secret UI state (pending authorization requests, language, CSRF token).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Client ids that received a code in this session (for back-channel logout).
    clients: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Indexed, like ``expires_at``: ``idp purge`` finds idle and expired sessions.
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    #: Client address of an anonymous record (the per-address cap counts them).
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    user_agent: Mapped[str | None] = mapped_column(String(300))
