"""Card failures: the durable count of consecutive wrong passwords per card (SPEC §7)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class CardFailure(db.Model):  # type: ignore[name-defined,misc]
    """Consecutive failed sign-ins for one well-formed card number, issued or not.

    Every wrong password for a well-formed card number writes this row, whether or not a
    patron has the card, so that a failure costs the same database work either way and
    the answer's timing never tells whether a card exists. Unlike the throttle's delay
    counters (Redis or ``throttle_counters``), it survives a Redis flush and is only
    cleared by a correct sign-in, a staff unlock or a password re-issue.
    """

    __tablename__ = "card_failures"

    #: The normalised card number (the ``patrons`` table holds card numbers too).
    card_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Consecutive failures since the last correct sign-in or unlock.
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: Set when the count reached ``IDP_THROTTLE_CARD_LOCK_AFTER``.
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
