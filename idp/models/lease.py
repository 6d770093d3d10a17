"""Maintenance lease: which node runs a periodic job (``idp purge``) and until when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime


class MaintenanceLease(db.Model):  # type: ignore[name-defined,misc]
    """One row per periodic job. A node runs the job only after taking the row.

    Taking it is one conditional ``UPDATE`` (``expires_at`` has passed), so on any number
    of nodes sharing the database exactly one wins per interval, on SQLite and PostgreSQL.
    """

    __tablename__ = "maintenance_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Host and process that took the lease last (for operators).
    holder: Mapped[str] = mapped_column(String(128))
    #: Nobody else runs the job before this time.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
