"""A patron's passkey (WebAuthn credential): named, listed with its last use, removable."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class PatronPasskey(db.Model):  # type: ignore[name-defined,misc]
    """One WebAuthn credential of a patron (the public key only)."""

    __tablename__ = "patron_passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patrons.id", ondelete="CASCADE"), index=True)
    #: base64url of the credential id (what the browser sends back as ``id``).
    credential_id: Mapped[str] = mapped_column(String(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Synced between devices (RFC 8176 ``swk``) or bound to one authenticator (``hwk``).
    is_synced: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def amr(self) -> str:
        """The RFC 8176 method of a sign-in with this passkey."""
        return "swk" if self.is_synced else "hwk"
