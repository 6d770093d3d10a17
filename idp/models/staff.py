"""Staff accounts of the web console (SPEC §6): separate from patrons in every table.

A staff member signs in with a username, a password (Argon2id) and a second factor: a
passkey (WebAuthn) or a TOTP app, with one-time recovery codes. Their browser sessions
are their own records, never a patron's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow


class StaffMember(db.Model):  # type: ignore[name-defined,misc]
    """A staff account. No password, second factor or recovery code is stored in clear."""

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    branch: Mapped[str | None] = mapped_column(String(100))
    #: ``counter``, ``supervisor`` or ``admin`` (idp/services/staff/roles.py).
    role: Mapped[str] = mapped_column(String(16))
    #: None until the staff member chooses a password on the enrolment page.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: The TOTP secret, encrypted (Fernet, key derived from the application secret).
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    #: The last TOTP time step accepted: a code is accepted once (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: False after ``idp staff disable``: no sign-in, every session ends.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: SHA-256 of the one-time enrolment link's token, and when the link stops working.
    enrolment_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolment_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Set after too many wrong passwords; cleared by ``idp staff enable`` or ``reset``.
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who created the account (a staff username or the operator's OS user).
    created_by: Mapped[str | None] = mapped_column(String(64))

    @property
    def is_enrolled(self) -> bool:
        """True once a password and a second factor are set."""
        return self.password_hash is not None and (
            self.totp_secret is not None or bool(self.credentials)
        )

    credentials: Mapped[list[StaffCredential]] = relationship(
        "StaffCredential",
        back_populates="staff",
        cascade="all, delete-orphan",
        order_by="StaffCredential.id",
    )

    def __repr__(self) -> str:
        return f"<StaffMember id={self.id}>"


class StaffCredential(db.Model):  # type: ignore[name-defined,misc]
    """A staff member's passkey (WebAuthn public-key credential)."""

    __tablename__ = "staff_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    #: The credential id, base64url without padding.
    credential_id: Mapped[str] = mapped_column(String(400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    staff: Mapped[StaffMember] = relationship("StaffMember", back_populates="credentials")


# Declarative table: its columns look like StaffCredential's because both hang off a
# staff member; they are separate tables with separate rules, not shared logic.
class StaffRecoveryCode(db.Model):  # type: ignore[name-defined,misc]
    """A one-time recovery code (SHA-256 of a random code); used once, then spent."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StaffSession(db.Model):  # type: ignore[name-defined,misc]
    """A staff browser session under ``/staff``; the cookie holds a random id, we its hash."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Set only after the password *and* the second factor were accepted.
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    #: UI state: language, CSRF token, the sign-in in progress, pending ceremony challenges.
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
