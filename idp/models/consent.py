"""Consent: a patron's approval of a third-party client's scopes (asked once)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow


class Consent(db.Model):  # type: ignore[name-defined,misc]
    """The scopes a patron has granted to one client."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("patron_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patrons.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
