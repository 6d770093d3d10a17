"""Enrolment through the one-time link: staff password rules, TOTP, recovery codes."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from flask import current_app
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.staff import StaffMember
from idp.services.container import container
from tests.staff.conftest import post_form
from tests.support.factories import change_settings

GOOD = "reading room lamps 1987"


def _link(output: str) -> str:
    match = re.search(r"http://localhost(/staff/enrol/[\w-]+)", output)
    assert match, output
    return match.group(1)


def _add(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(args=["staff", "add", *args])
    assert result.exit_code == 0, result.output
    return _link(result.output)


def _enrol_totp(client: FlaskClient, link: str, password: str = GOOD) -> tuple[str, Any]:
    chosen = post_form(client, link, None, {"password": password, "password_confirm": password})
    assert chosen.status_code == 302, chosen.get_data(as_text=True)
    page = client.get(f"{link}/factor").get_data(as_text=True)
    key = re.search(r'<code class="totp-key">([A-Z2-7 ]+)</code>', page)
    assert key, page
    secret = key.group(1).replace(" ", "")
    code = pyotp.TOTP(secret).at(container().now())
    done = post_form(client, f"{link}/factor", f"{link}/totp", {"code": code})
    return secret, done


def test_add_prints_a_one_time_link_and_enrolment_completes(
    client: FlaskClient, runner: FlaskCliRunner, clock: Any
) -> None:
    link = _add(runner, "Alice", "--role", "admin", "--name", "有田 アリス", "--branch", "中央")
    secret, done = _enrol_totp(client, link)
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", html)
    assert len(codes) == 10
    staff = db.session.scalar(select(StaffMember).where(StaffMember.username == "alice"))
    assert staff is not None and staff.is_enrolled and staff.role == "admin"
    assert staff.branch == "中央" and staff.password_hash and GOOD not in staff.password_hash
    assert secret not in (staff.totp_secret or "")  # stored encrypted
    # The link is used up.
    assert client.get(link).status_code == 404
    # And the new account signs in with password and the app's next code.
    clock.advance(seconds=30)
    post_form(client, "/staff/login", None, {"username": "alice", "password": GOOD})
    code = pyotp.TOTP(secret).at(container().now())
    signed = post_form(client, "/staff/login/second", "/staff/login/totp", {"code": code})
    assert signed.status_code == 302
    assert client.get("/staff/admin/staff").status_code == 200


def test_staff_password_rules(client: FlaskClient, runner: FlaskCliRunner) -> None:
    link = _add(runner, "bob", "--role", "counter")
    for password, confirm, words in (
        ("short pass", "short pass", "12文字以上"),
        ("password2024!", "password2024!", "推測されやすい"),
        ("bob the librarian", "bob the librarian", "ユーザー名"),
        ("long enough words", "long enough wordz", "一致しません"),
        ("aaaaaaaaaaaaaa", "aaaaaaaaaaaaaa", "推測されやすい"),
    ):
        response = post_form(
            client, link, None, {"password": password, "password_confirm": confirm}
        )
        assert response.status_code == 400, password
        assert words in response.get_data(as_text=True), password
    staff = db.session.scalar(select(StaffMember).where(StaffMember.username == "bob"))
    assert staff is not None and staff.password_hash is None


def test_link_expires_after_a_day(client: FlaskClient, runner: FlaskCliRunner, clock: Any) -> None:
    link = _add(runner, "carol", "--role", "counter")
    clock.advance(hours=23)
    assert client.get(link).status_code == 200
    clock.advance(hours=2)
    assert client.get(link).status_code == 404


def test_factor_step_needs_the_password_step_in_this_browser(
    client: FlaskClient, app: Any, runner: FlaskCliRunner
) -> None:
    link = _add(runner, "dave", "--role", "counter")
    post_form(client, link, None, {"password": GOOD, "password_confirm": GOOD})
    other = app.test_client()
    assert other.get(f"{link}/factor").status_code == 404


def test_wrong_first_code_does_not_enrol(client: FlaskClient, runner: FlaskCliRunner) -> None:
    link = _add(runner, "erin", "--role", "counter")
    post_form(client, link, None, {"password": GOOD, "password_confirm": GOOD})
    bad = post_form(client, f"{link}/factor", f"{link}/totp", {"code": "123456"})
    assert bad.status_code == 400
    staff = db.session.scalar(select(StaffMember).where(StaffMember.username == "erin"))
    assert staff is not None and staff.totp_secret is None and not staff.is_enrolled


def test_not_enrolled_account_cannot_sign_in(client: FlaskClient, runner: FlaskCliRunner) -> None:
    link = _add(runner, "fay", "--role", "counter")
    post_form(client, link, None, {"password": GOOD, "password_confirm": GOOD})
    response = post_form(client, "/staff/login", None, {"username": "fay", "password": GOOD})
    assert response.status_code == 403


def test_reset_forgets_factors_and_makes_a_new_link(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    link = _add(runner, "gina", "--role", "counter")
    _enrol_totp(client, link)
    result = runner.invoke(args=["staff", "reset", "gina", "--reason", "lost phone"])
    assert result.exit_code == 0, result.output
    new_link = _link(result.output)
    assert new_link != link and client.get(new_link).status_code == 200
    refused = post_form(client, "/staff/login", None, {"username": "gina", "password": GOOD})
    assert refused.status_code == 401
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "staff.reset"))
    assert event.detail["reason"] == "lost phone" and event.detail["channel"] == "cli"


def test_passkeys_are_offered_only_on_a_host_name(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    link = _add(runner, "hugo", "--role", "counter")
    post_form(client, link, None, {"password": GOOD, "password_confirm": GOOD})
    on_localhost = client.get(f"{link}/factor").get_data(as_text=True)
    assert "data-passkey-options" in on_localhost
    change_settings(current_app, IDP_ISSUER="http://127.0.0.1:5000")
    on_ip = client.get(f"{link}/factor").get_data(as_text=True)
    assert "data-passkey-options" not in on_ip and "ホスト名" in on_ip
