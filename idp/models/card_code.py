"""Used card code: the database replay memory of the rotating card barcode (SPEC §5)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class UsedCardCode(db.Model):  # type: ignore[name-defined,misc]
    """A card code accepted once at a desk, remembered until no desk would accept it.

    The primary key makes "first use wins" atomic on every node sharing the database.
    The key is an HMAC of card number and time step, so the table does not record in
    clear which card was shown at the desk when.
    """

    __tablename__ = "used_card_codes"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    #: After this the code is refused as expired anyway, and the row may be purged.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
