"""Times as the staff commands print them: in the library's time zone (``IDP_TIMEZONE``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from idp.services.container import container


def library_zone() -> ZoneInfo:
    """The library's time zone."""
    return ZoneInfo(container().settings.site.timezone)


def library_time(moment: dt.datetime) -> str:
    """``moment`` in the library's zone, to the minute, with the zone's offset and name.

    Stored times are aware UTC; a naive one (SQLite drops the zone) is taken as UTC.
    """
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    local = aware.astimezone(library_zone())
    return f"{local.isoformat(timespec='minutes')} ({local.tzname()})"


def library_iso(moment: dt.datetime) -> str:
    """``moment`` in the library's zone as ISO 8601 with its offset (for JSON output)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(library_zone()).isoformat()
