"""Administrator screens: staff accounts and clients, with reasons in the audit log."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.staff import StaffMember
from tests.staff.conftest import StaffUser
from tests.staff.conftest import post_form
from tests.support.factories import make_client
from tests.support.oidc import csrf_token


def _nonce(html: str) -> str:
    match = re.search(r'name="nonce" type="hidden" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_admin_adds_a_counter_account_and_sees_its_link_once(admin_client: FlaskClient) -> None:
    added = post_form(
        admin_client,
        "/staff/admin/staff",
        None,
        {"username": "newdesk", "role": "counter", "name": "窓口 新", "branch": "北"},
    )
    html = added.get_data(as_text=True)
    assert added.status_code == 200
    assert re.search(r"http://localhost/staff/enrol/[\w-]{20,}", html)
    member = db.session.scalar(select(StaffMember).where(StaffMember.username == "newdesk"))
    assert member is not None and member.created_by == "admin" and member.role == "counter"
    [created] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "staff.created", AuditEvent.actor == "admin")
    )
    assert created.detail["staff"] == "newdesk" and created.detail["role"] == "admin"


def test_admin_disables_a_staff_member_with_a_reason(
    admin_client: FlaskClient, counter_user: StaffUser
) -> None:
    page = admin_client.get("/staff/admin/staff").get_data(as_text=True)
    done = admin_client.post(
        "/staff/admin/staff/kaori/disable",
        data={"csrf_token": csrf_token(page), "nonce": _nonce(page), "reason": "moved branch"},
    )
    assert done.status_code == 303
    assert not counter_user.row().is_active
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "staff.disabled"))
    assert event.actor == "admin" and event.detail["reason"] == "moved branch"


def test_admin_cannot_disable_themself(admin_client: FlaskClient, admin_user: StaffUser) -> None:
    page = admin_client.get("/staff/admin/staff").get_data(as_text=True)
    admin_client.post(
        "/staff/admin/staff/admin/disable",
        data={"csrf_token": csrf_token(page), "nonce": _nonce(page), "reason": "oops"},
    )
    assert admin_user.row().is_active


def test_admin_disables_a_client(admin_client: FlaskClient, app: Any) -> None:
    client = make_client("vendor-x")
    page = admin_client.get("/staff/admin/clients").get_data(as_text=True)
    assert "vendor-x" in page
    done = admin_client.post(
        "/staff/admin/clients/vendor-x/disable",
        data={"csrf_token": csrf_token(page), "reason": "contract ended"},
    )
    assert done.status_code == 303
    db.session.refresh(client)
    assert not client.is_enabled
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "client.disabled"))
    assert event.client_id == "vendor-x" and event.actor == "admin"


def test_supervisor_may_not_manage_staff_or_clients(
    supervisor_client: FlaskClient, counter_user: StaffUser
) -> None:
    page = supervisor_client.get("/staff/").get_data(as_text=True)
    for path in ("/staff/admin/staff", "/staff/admin/clients"):
        assert supervisor_client.get(path).status_code == 403
    refused = supervisor_client.post(
        "/staff/admin/staff/kaori/disable",
        data={"csrf_token": csrf_token(page), "nonce": "x", "reason": "x"},
    )
    assert refused.status_code == 403 and counter_user.row().is_active
