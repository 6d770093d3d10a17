"""Staff console fixtures: staff accounts with a known password and TOTP secret, sign-in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models.staff import StaffMember
from idp.services.container import container
from idp.services.staff import totp
from idp.services.staff.accounts import add_staff
from idp.services.staff.accounts import finish_enrolment
from idp.services.staff.accounts import set_password
from idp.services.staff.actor import Actor
from tests.support.oidc import csrf_token

STAFF_PASSWORD = "shelves of quiet paper 42"
SETUP = Actor(name="setup", channel="cli", os_user="setup")


@dataclass
class StaffUser:
    """A staff member made for a test, with what they need to sign in."""

    username: str
    role: str
    secret: str
    password: str = STAFF_PASSWORD

    def code(self, at: dt.datetime, steps_back: int = 0) -> str:
        when = at - dt.timedelta(seconds=30 * steps_back)
        return pyotp.TOTP(self.secret).at(when)

    def row(self) -> StaffMember:
        found = db.session.scalar(
            db.select(StaffMember).where(StaffMember.username == self.username)
        )
        assert found is not None
        return found


def make_staff(username: str, role: str = "counter", **fields: Any) -> StaffUser:
    """An enrolled staff member (password and TOTP), committed."""
    enrolment = add_staff(username, role, actor=SETUP, **fields)
    staff = enrolment.staff
    set_password(staff, STAFF_PASSWORD)
    secret = totp.new_secret()
    staff.totp_secret = totp.encrypt_secret(secret)
    finish_enrolment(staff)
    db.session.commit()
    return StaffUser(username=staff.username, role=role, secret=secret)


def post_form(
    client: FlaskClient, page: str, action: str | None, data: dict[str, Any], **kw: Any
) -> TestResponse:
    """GET ``page`` for its CSRF token, then POST ``data`` to ``action`` (default: the page)."""
    html = client.get(page, **kw).get_data(as_text=True)
    return client.post(action or page, data={**data, "csrf_token": csrf_token(html)}, **kw)


def sign_in(client: FlaskClient, user: StaffUser, *, steps_back: int = 0) -> TestResponse:
    """Password, then a TOTP code: the staff member is signed in to the console."""
    first = post_form(
        client, "/staff/login", None, {"username": user.username, "password": user.password}
    )
    assert first.status_code == 302, first.get_data(as_text=True)
    now = container().now()
    second = post_form(
        client,
        "/staff/login/second",
        "/staff/login/totp",
        {"code": user.code(now, steps_back)},
    )
    return second


@pytest.fixture
def counter_user(app: Any) -> StaffUser:
    return make_staff("kaori", "counter", name="受付 かおり", branch="中央")


@pytest.fixture
def supervisor_user(app: Any) -> StaffUser:
    return make_staff("sato", "supervisor", name="佐藤")


@pytest.fixture
def admin_user(app: Any) -> StaffUser:
    return make_staff("admin", "admin", name="管理者")


@pytest.fixture
def counter_client(client: FlaskClient, counter_user: StaffUser) -> FlaskClient:
    assert sign_in(client, counter_user).status_code == 302
    return client


@pytest.fixture
def supervisor_client(client: FlaskClient, supervisor_user: StaffUser) -> FlaskClient:
    assert sign_in(client, supervisor_user).status_code == 302
    return client


@pytest.fixture
def admin_client(client: FlaskClient, admin_user: StaffUser) -> FlaskClient:
    assert sign_in(client, admin_user).status_code == 302
    return client
