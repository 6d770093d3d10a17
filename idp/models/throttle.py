"""Throttle counter: one attempt counter of the database backend (SPEC §7)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class ThrottleCounter(db.Model):  # type: ignore[name-defined,misc]
    """A counter of attempts (per card, per source address, per time window).

    Used when no Redis is configured, or while Redis is unreachable. The key is a hash,
    so that the table holds no card number or address in clear.
    """

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    #: Slots reserved (attempts started, minus those given back).
    count: Mapped[int] = mapped_column(Integer, default=0)
    #: Failures settled: consecutive failures of a card, for the delays.
    settled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Time of the last settled failure (or of the counter's start).
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Time of the latest reservation, and of the one before it (returned by the next
    #: reservation: a check still running, or one whose worker died).
    reserved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    previous_reserved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: After this the counter is forgotten (and may be purged).
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
