"""Patron: a library-card holder and the credentials behind the card (SPEC §1)."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean
from sqlalchemy import Date
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import column_property
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.card_failure import CardFailure
from idp.models.types import UTCDateTime
from idp.models.types import utcnow


class PatronStatus(enum.StrEnum):
    """Card status; every status but ``active`` refuses login."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    LOST = "lost"
    WITHDRAWN = "withdrawn"


def new_subject() -> str:
    """A random, opaque subject identifier: never the card number or the row id."""
    return secrets.token_urlsafe(24)


class Patron(db.Model):  # type: ignore[name-defined,misc]
    """A patron. The password is only ever stored as an Argon2id hash."""

    __tablename__ = "patrons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    #: The locally unique, never reassigned ``sub`` (public subject type).
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=new_subject)
    password_hash: Mapped[str] = mapped_column(String(255))
    #: Set by staff (issue, counter reset); cleared only by the patron choosing a password.
    is_temporary_password: Mapped[bool] = mapped_column(Boolean, default=True)
    temporary_password_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Bumped whenever the password changes: ends signed links issued before the change.
    password_version: Mapped[int] = mapped_column(Integer, default=1)
    expires_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=PatronStatus.ACTIVE.value)
    name: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16), default="adult")
    email: Mapped[str | None] = mapped_column(String(254))
    is_email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    email2: Mapped[str | None] = mapped_column(String(254))
    is_email2_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When ``email`` / ``email2`` was confirmed (None: before this was recorded, or not
    #: confirmed). A re-issue link needs an address confirmed ``IDP_REISSUE_EMAIL_MIN_AGE``
    #: ago.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    email2_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notify_due_date: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_reservation: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Language for mail and pages when the patron has chosen one ("ja" or "en").
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    #: Consecutive failed sign-ins, read from ``card_failures`` (see
    #: :class:`~idp.models.card_failure.CardFailure`): a wrong password never writes the
    #: patron row, so that it costs the same as one for a card nobody has. Read-only:
    #: :func:`idp.services.accounts.patrons.unlock_patron` clears it.
    failed_login_count: Mapped[int] = column_property(
        func.coalesce(
            select(CardFailure.count)
            .where(CardFailure.card_number == card_number)
            .correlate_except(CardFailure)
            .scalar_subquery(),
            0,
        ),
        deferred=True,
    )
    #: Set when the card locks (mirrored from ``card_failures``), cleared by an unlock.
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def is_card_expired(self, now: dt.datetime, timezone: str) -> bool:
        """True after the end of the expiry day in the library's time zone."""
        return now.astimezone(ZoneInfo(timezone)).date() > self.expires_on

    def is_temporary_password_expired(self, now: dt.datetime) -> bool:
        """True when a temporary password has passed its own expiry."""
        expires = self.temporary_password_expires_at
        return self.is_temporary_password and expires is not None and now >= expires

    def __repr__(self) -> str:
        # Never the card number or any secret: reprs end up in logs.
        return f"<Patron id={self.id}>"
