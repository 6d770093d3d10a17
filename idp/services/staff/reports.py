"""Supervisor reports (SPEC §6): temporary passwords not changed or about to expire,
locked cards, cards expiring this month — as rows for a page and as CSV for Excel.

No report holds a password, hash or token; times are in the library's time zone.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import enum
import io
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.container import container

#: Rows in one report at most (the page and the CSV).
MAX_ROWS = 5000


class Report(enum.StrEnum):
    """The reports a supervisor can read."""

    TEMPORARY_UNCHANGED = "temporary-unchanged"
    TEMPORARY_EXPIRING = "temporary-expiring"
    LOCKED = "locked"
    EXPIRING_THIS_MONTH = "expiring-this-month"


#: Column keys of every report, in order (the CSV header; the page translates them).
COLUMNS = (
    "card_number",
    "name",
    "status",
    "expires_on",
    "temporary_since",
    "temporary_until",
    "locked_at",
)


@dataclass(frozen=True)
class ReportRow:
    """One patron in a report."""

    patron_id: int
    card_number: str
    name: str | None
    status: str
    expires_on: dt.date
    temporary_since: dt.datetime | None
    temporary_until: dt.datetime | None
    locked_at: dt.datetime | None


def _zone() -> ZoneInfo:
    return ZoneInfo(container().settings.site.timezone)


def month_bounds(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """First and last day of ``now``'s month in the library's time zone."""
    today = now.astimezone(_zone()).date()
    last = calendar.monthrange(today.year, today.month)[1]
    return today.replace(day=1), today.replace(day=last)


def run_report(report: Report, *, days: int = 7) -> list[ReportRow]:
    """The rows of ``report``.

    :param days: for ``temporary-unchanged``, temporary passwords issued at least this
        many days ago; for ``temporary-expiring``, those ending within this many days.
    """
    now = container().now()
    query = select(Patron)
    if report is Report.TEMPORARY_UNCHANGED:
        query = query.where(
            Patron.is_temporary_password.is_(True),
            Patron.password_changed_at <= now - dt.timedelta(days=days),
        ).order_by(Patron.password_changed_at)
    elif report is Report.TEMPORARY_EXPIRING:
        query = query.where(
            Patron.is_temporary_password.is_(True),
            Patron.temporary_password_expires_at > now,
            Patron.temporary_password_expires_at <= now + dt.timedelta(days=days),
        ).order_by(Patron.temporary_password_expires_at)
    elif report is Report.LOCKED:
        query = query.where(Patron.locked_at.is_not(None)).order_by(Patron.locked_at)
    else:
        first, last = month_bounds(now)
        query = query.where(Patron.expires_on >= first, Patron.expires_on <= last).order_by(
            Patron.expires_on
        )
    zone = _zone()

    def local(value: dt.datetime | None) -> dt.datetime | None:
        return value.astimezone(zone) if value else None

    return [
        ReportRow(
            patron_id=p.id,
            card_number=p.card_number,
            name=p.name,
            status=p.status,
            expires_on=p.expires_on,
            temporary_since=local(p.password_changed_at) if p.is_temporary_password else None,
            temporary_until=local(p.temporary_password_expires_at)
            if p.is_temporary_password
            else None,
            locked_at=local(p.locked_at),
        )
        for p in db.session.scalars(query.order_by(Patron.card_number).limit(MAX_ROWS))
    ]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    # A cell starting with = + - @ is a formula to Excel (CSV injection): quote it.
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def to_csv(rows: list[ReportRow], header: list[str]) -> bytes:
    """The rows as CSV in UTF-8 with a BOM (Excel opens Japanese names correctly), CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
