"""Staff roles and what each may do (SPEC §6): checked on the server for every action.

``counter`` finds a patron by card number (or scan), shows, issues, resets a password,
renews, unlocks and prints a notice; ``supervisor`` also sets a status, searches by name
or e-mail, reads the reports and the audit log; ``admin`` also manages staff accounts
and clients.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """A staff member's role."""

    COUNTER = "counter"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


# A string enum like SignInOutcome (services/signin/outcomes.py), hence the same shape
# (a noqa'd value that only looks like a password); the values have nothing in common.
class Permission(enum.StrEnum):
    """One thing a staff member may do in the console."""

    FIND_BY_CARD = "patron.find_by_card"
    VIEW_PATRON = "patron.view"
    ISSUE = "patron.issue"
    RESET_PASSWORD = "patron.reset_password"  # noqa: S105 - a permission name
    RENEW = "patron.renew"
    UNLOCK = "patron.unlock"
    PRINT_NOTICE = "patron.print_notice"
    SCAN = "card.scan"
    SET_STATUS = "patron.set_status"
    SEARCH = "patron.search"
    REPORTS = "reports.view"
    AUDIT = "audit.view"
    MANAGE_STAFF = "staff.manage"
    MANAGE_CLIENTS = "clients.manage"


_COUNTER = frozenset(
    {
        Permission.FIND_BY_CARD,
        Permission.VIEW_PATRON,
        Permission.ISSUE,
        Permission.RESET_PASSWORD,
        Permission.RENEW,
        Permission.UNLOCK,
        Permission.PRINT_NOTICE,
        Permission.SCAN,
    }
)
_SUPERVISOR = _COUNTER | {
    Permission.SET_STATUS,
    Permission.SEARCH,
    Permission.REPORTS,
    Permission.AUDIT,
}
_ADMIN = _SUPERVISOR | {Permission.MANAGE_STAFF, Permission.MANAGE_CLIENTS}

#: Every role's permissions; each role has all of the one below it.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COUNTER: _COUNTER,
    Role.SUPERVISOR: frozenset(_SUPERVISOR),
    Role.ADMIN: frozenset(_ADMIN),
}


def parse_role(value: str) -> Role:
    """The role named ``value``.

    :raises ValueError: for anything but ``counter``, ``supervisor`` or ``admin``.
    """
    try:
        return Role(value)
    except ValueError:
        raise ValueError(f"unknown role {value!r} (use counter, supervisor or admin)") from None


def is_allowed(role: str, permission: Permission) -> bool:
    """True when a staff member with ``role`` may do ``permission`` (unknown role: no)."""
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False
