"""Device authorization: one request of the Device Authorization Grant (RFC 8628 §3).

The device code is stored only as a SHA-256 hash; the user code (8 letters, short-lived)
is what the patron types on ``/device``. ``status`` moves once, atomically, from
``pending`` to ``approved`` or ``denied`` (the patron's decision) and from ``approved``
to ``used`` (the token endpoint's single-use claim).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
USED = "used"


class DeviceAuthorization(db.Model):  # type: ignore[name-defined,misc]
    """A device's request for tokens, waiting for a patron's decision on ``/device``."""

    __tablename__ = "device_authorizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Normalised (8 letters, no separator).
    user_code: Mapped[str] = mapped_column(String(16), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    patron_id: Mapped[int | None] = mapped_column(ForeignKey("patrons.id", ondelete="CASCADE"))
    #: When the patron signed in (``auth_time``) and the login session's public id.
    auth_time: Mapped[int | None] = mapped_column(Integer)
    sid: Mapped[str | None] = mapped_column(String(64))
    #: Seconds the device must wait between polls; grows by 5 on every ``slow_down``.
    interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired_at(self, now: dt.datetime) -> bool:
        """True from ``expires_at`` on."""
        return now >= self.expires_at

    def __repr__(self) -> str:
        return f"<DeviceAuthorization {self.id} {self.client_id} {self.status}>"
