"""Words the console's templates show for codes: roles, statuses, events, scan answers."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from idp.services.container import container

ROLES = {"counter": _l("Counter"), "supervisor": _l("Supervisor"), "admin": _l("Administrator")}
STATUSES = {
    "active": _l("Active"),
    "suspended": _l("Suspended"),
    "lost": _l("Lost"),
    "withdrawn": _l("Withdrawn"),
}
SCAN_REASONS = {
    "malformed": _l("not a card code (wrong length or characters)"),
    "unknown": _l("no card has this number"),
    "expired_code": _l("the code has expired (ask the patron to show the current one)"),
    "replayed": _l("this code was already used (a screenshot?)"),
    "card_expired": _l("the card has expired"),
    "suspended": _l("the card is suspended"),
    "lost": _l("the card was reported lost"),
    "withdrawn": _l("the card was withdrawn"),
}
EVENTS = {
    "login.ok": _l("Signed in"),
    "login.failed": _l("Wrong password"),
    "login.locked": _l("Sign-in refused: locked"),
    "login.throttled": _l("Sign-in delayed"),
    "login.refused": _l("Sign-in refused"),
    "patron.locked": _l("Card locked"),
    "patron.unlocked": _l("Card unlocked"),
    "patron.issued": _l("Card issued"),
    "patron.renewed": _l("Card renewed"),
    "patron.status_changed": _l("Status changed"),
    "patron.viewed": _l("Patron page viewed"),
    "password.reset": _l("Password reset at the counter"),
    "password.temporary_issued": _l("Temporary password issued"),
    "password.changed": _l("Password changed"),
    "card.verified": _l("Card code accepted"),
    "card.refused": _l("Card code refused"),
    "card.plain_scanned": _l("Printed card scanned"),
    "staff.login": _l("Staff signed in"),
    "staff.logout": _l("Staff signed out"),
    "staff.login_failed": _l("Staff sign-in failed"),
    "staff.forbidden": _l("Staff action refused (role)"),
    "staff.created": _l("Staff account created"),
    "staff.enrolled": _l("Staff enrolment completed"),
    "staff.disabled": _l("Staff account disabled"),
    "staff.enabled": _l("Staff account enabled"),
    "staff.reset": _l("Staff account reset"),
}


def role_name(role: str) -> str:
    return str(ROLES.get(role, role))


def status_name(status: str) -> str:
    return str(STATUSES.get(status, status))


def scan_reason(reason: str) -> str:
    return str(SCAN_REASONS.get(reason, reason))


def event_name(event: str) -> str:
    found = EVENTS.get(event)
    return f"{found} ({event})" if found is not None else event


def local_time(value: dt.datetime | None) -> str:
    """A stored (UTC) time in the library's time zone, to the minute."""
    if value is None:
        return ""
    zone = ZoneInfo(container().settings.site.timezone)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


HELPERS = {
    "role_name": role_name,
    "status_name": status_name,
    "scan_reason": scan_reason,
    "event_name": event_name,
    "local_time": local_time,
}
