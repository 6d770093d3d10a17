"""Unit rules: roles and their permissions, staff password rules, TOTP steps."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from idp.services.staff.password_rules import StaffPasswordRule
from idp.services.staff.password_rules import check_staff_password
from idp.services.staff.roles import Permission
from idp.services.staff.roles import Role
from idp.services.staff.roles import is_allowed
from idp.services.staff.roles import parse_role
from idp.services.staff.totp import matching_step

COUNTER_ONLY = {
    Permission.FIND_BY_CARD,
    Permission.VIEW_PATRON,
    Permission.ISSUE,
    Permission.RESET_PASSWORD,
    Permission.RENEW,
    Permission.UNLOCK,
    Permission.PRINT_NOTICE,
    Permission.SCAN,
}
SUPERVISOR_EXTRA = {Permission.SET_STATUS, Permission.SEARCH, Permission.REPORTS, Permission.AUDIT}
ADMIN_EXTRA = {Permission.MANAGE_STAFF, Permission.MANAGE_CLIENTS}


@pytest.mark.parametrize("permission", list(Permission))
def test_each_role_has_exactly_its_permissions(permission: Permission) -> None:
    assert is_allowed("counter", permission) == (permission in COUNTER_ONLY)
    assert is_allowed("supervisor", permission) == (permission in COUNTER_ONLY | SUPERVISOR_EXTRA)
    assert is_allowed("admin", permission)
    assert not is_allowed("root", permission)


def test_parse_role() -> None:
    assert parse_role("admin") is Role.ADMIN
    with pytest.raises(ValueError, match="unknown role"):
        parse_role("Admin ")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("elevenchars", StaffPasswordRule.TOO_SHORT),
        ("x" * 129, StaffPasswordRule.TOO_LONG),
        ("librarian-kaori-2026", StaffPasswordRule.CONTAINS_USERNAME),
        ("password1234", StaffPasswordRule.TOO_COMMON),
        ("qwertyuiop!!", StaffPasswordRule.TOO_COMMON),
        ("123456789012", StaffPasswordRule.TOO_COMMON),
        ("abababababab", StaffPasswordRule.TOO_COMMON),
        ("quiet shelves at dawn", None),
        ("日本語のパスワードも使えます", None),
    ],
)
def test_staff_password_rules(app: object, password: str, rule: StaffPasswordRule | None) -> None:
    assert check_staff_password(password, password, username="kaori") is rule


def test_staff_password_confirmation(app: object) -> None:
    assert (
        check_staff_password("quiet shelves at dawn", "quiet shelves at dusk", username="x")
        is StaffPasswordRule.MISMATCH
    )


def test_totp_step_window() -> None:
    secret = pyotp.random_base32()
    now = dt.datetime(2026, 12, 4, 9, 0, 15, tzinfo=dt.UTC)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    assert matching_step(secret, totp.at(now), now) == step
    assert matching_step(secret, totp.at(now - dt.timedelta(seconds=30)), now) == step - 1
    assert matching_step(secret, totp.at(now - dt.timedelta(seconds=60)), now) is None
    assert matching_step(secret, totp.at(now + dt.timedelta(seconds=30)), now) is None
    assert matching_step(secret, "12345", now) is None
    assert matching_step(secret, "１２３４５６", now) is None


def test_a_once_token_is_claimed_once(app: object) -> None:
    from idp.services.staff.once import claim

    assert claim("token-a") is True
    assert claim("token-a") is False
    assert claim("token-b") is True
