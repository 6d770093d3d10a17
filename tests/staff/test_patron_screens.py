"""The counter's patron screens: issue and reset show the password once, actions audited."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from tests.staff.conftest import post_form
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def _events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def _issue(client: FlaskClient, card: str = "0300000123") -> tuple[str, dict[str, str]]:
    html = client.get("/staff/patrons/new").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(html),
        "nonce": _field(html, "nonce"),
        "card_number": card,
        "expires_on": "2030-03-31",
        "name": "新規 利用者",
        "reason": "new registration",
    }
    response = client.post("/staff/patrons/new", data=data)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True), data


def _temporary_password(notice: str) -> str:
    match = re.search(r'<span class="value">(\d{8})</span>', notice)
    assert match, notice
    return match.group(1)


def test_issue_shows_the_notice_once_with_its_own_csp(counter_client: FlaskClient) -> None:
    notice, data = _issue(counter_client)
    password = _temporary_password(notice)
    assert "0300000123" in notice and "2030.03.31" in notice
    assert "print-notice" in notice  # the print button, hidden on paper
    # Sending the same form again (reload, back) never shows a password again.
    again = counter_client.post("/staff/patrons/new", data=data)
    assert again.status_code == 409
    assert password not in again.get_data(as_text=True)
    patron = db.session.scalar(select(Patron).where(Patron.card_number == "0300000123"))
    assert patron is not None and patron.is_temporary_password
    [issued] = _events("patron.issued")
    assert issued.actor == "kaori" and issued.detail["role"] == "counter"
    assert issued.detail["reason"] == "new registration" and issued.ip == "127.0.0.1"
    assert password not in str([e.detail for e in db.session.scalars(select(AuditEvent))])


def test_notice_page_allows_only_its_own_style(counter_client: FlaskClient) -> None:
    html = counter_client.get("/staff/patrons/new").get_data(as_text=True)
    response = counter_client.post(
        "/staff/patrons/new",
        data={
            "csrf_token": csrf_token(html),
            "nonce": _field(html, "nonce"),
            "card_number": "0300000124",
            "expires_on": "2030-03-31",
        },
    )
    csp = response.headers["Content-Security-Policy"]
    assert "'sha256-" in csp and "unsafe-inline" not in csp
    assert response.headers["Cache-Control"] == "no-store"


def test_issue_refuses_a_taken_or_malformed_card(counter_client: FlaskClient) -> None:
    make_patron("0300000500")
    for card, words in (("0300000500", "発行済み"), ("12ab", "正しくありません")):
        html = counter_client.get("/staff/patrons/new").get_data(as_text=True)
        response = counter_client.post(
            "/staff/patrons/new",
            data={
                "csrf_token": csrf_token(html),
                "nonce": _field(html, "nonce"),
                "card_number": card,
                "expires_on": "2030-03-31",
            },
        )
        assert response.status_code == 400
        assert words in response.get_data(as_text=True)


def test_issued_patron_signs_in_with_the_temporary_password(counter_client: FlaskClient) -> None:
    notice, _data = _issue(counter_client, "0300000777")
    password = _temporary_password(notice)
    page = counter_client.get("/login")
    response = counter_client.post(
        "/login",
        data={
            "card_number": "0300000777",
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    # A temporary password leads to the forced password change, as the notice says.
    assert response.status_code == 302 and "/password/change" in response.headers["Location"]


def test_patron_page_shows_facts_and_history_never_a_secret(
    counter_client: FlaskClient, patron: Any
) -> None:
    page = counter_client.get(f"/staff/patrons/{patron.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert patron.card_number in html and "図書館 太郎" in html
    assert "argon2" not in html and patron.password_hash not in html
    assert "利用者情報の閲覧" in html  # the view itself is in the history
    [viewed] = _events("patron.viewed")
    assert viewed.actor == "kaori"


def test_find_by_card_number(counter_client: FlaskClient, patron: Any) -> None:
    found = post_form(
        counter_client, "/staff/", "/staff/find", {"card_number": "０３００ ０００ ００１"}
    )
    assert found.status_code == 302
    assert found.headers["Location"] == f"/staff/patrons/{patron.id}"
    missing = post_form(counter_client, "/staff/", "/staff/find", {"card_number": "0399999999"})
    assert missing.status_code == 404


def test_reset_shows_a_new_password_once_and_ends_sessions(
    counter_client: FlaskClient, patron: Any
) -> None:
    old_hash = patron.password_hash
    page = counter_client.get(f"/staff/patrons/{patron.id}/reset").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "nonce": _field(page, "nonce"), "reason": "forgot"}
    notice = counter_client.post(f"/staff/patrons/{patron.id}/reset", data=data)
    assert notice.status_code == 200
    _temporary_password(notice.get_data(as_text=True))
    db.session.refresh(patron)
    assert patron.is_temporary_password and patron.password_hash != old_hash
    again = counter_client.post(f"/staff/patrons/{patron.id}/reset", data=data)
    assert again.status_code == 409
    [reset] = _events("password.reset")
    assert reset.actor == "kaori" and reset.detail["reason"] == "forgot"


def test_reset_needs_a_reason(counter_client: FlaskClient, patron: Any) -> None:
    page = counter_client.get(f"/staff/patrons/{patron.id}/reset").get_data(as_text=True)
    response = counter_client.post(
        f"/staff/patrons/{patron.id}/reset",
        data={"csrf_token": csrf_token(page), "nonce": _field(page, "nonce"), "reason": ""},
    )
    assert response.status_code == 400
    assert not _events("password.reset")


def test_renew_and_unlock_record_the_reason(
    counter_client: FlaskClient, patron: Any, now: dt.datetime
) -> None:
    path = f"/staff/patrons/{patron.id}"
    renewed = post_form(
        counter_client, path, f"{path}/renew", {"expires_on": "2031-01-31", "reason": "renewal"}
    )
    assert renewed.status_code == 303
    patron.locked_at = now
    db.session.commit()
    unlocked = post_form(counter_client, path, f"{path}/unlock", {"reason": "identity checked"})
    assert unlocked.status_code == 303
    db.session.refresh(patron)
    assert patron.expires_on == dt.date(2031, 1, 31) and patron.locked_at is None
    [renew] = _events("patron.renewed")
    [unlock] = _events("patron.unlocked")
    assert renew.detail["reason"] == "renewal" and unlock.detail["reason"] == "identity checked"
    assert renew.actor == unlock.actor == "kaori"
    no_reason = post_form(counter_client, path, f"{path}/unlock", {"reason": ""})
    assert no_reason.status_code == 303 and len(_events("patron.unlocked")) == 1


def test_renew_refuses_a_past_date(counter_client: FlaskClient, patron: Any) -> None:
    path = f"/staff/patrons/{patron.id}"
    post_form(counter_client, path, f"{path}/renew", {"expires_on": "2001-01-01", "reason": "x"})
    page = counter_client.get(path).get_data(as_text=True)
    assert "過去の日付" in page
    assert not _events("patron.renewed")


def test_counter_may_not_set_a_status(counter_client: FlaskClient, patron: Any) -> None:
    path = f"/staff/patrons/{patron.id}"
    assert f'action="/staff/patrons/{patron.id}/status"' not in counter_client.get(path).get_data(
        as_text=True
    )
    html = counter_client.get(path).get_data(as_text=True)
    refused = counter_client.post(
        f"{path}/status",
        data={"csrf_token": csrf_token(html), "status": "suspended", "reason": "x"},
    )
    assert refused.status_code == 403
    assert "許可されていません" in refused.get_data(as_text=True)
    db.session.refresh(patron)
    assert patron.status == "active"
    [forbidden] = _events("staff.forbidden")
    assert forbidden.actor == "kaori" and forbidden.detail["permission"] == "patron.set_status"


def test_supervisor_sets_a_status_and_searches(supervisor_client: FlaskClient, patron: Any) -> None:
    path = f"/staff/patrons/{patron.id}"
    done = post_form(
        supervisor_client, path, f"{path}/status", {"status": "suspended", "reason": "lost wallet"}
    )
    assert done.status_code == 303
    db.session.refresh(patron)
    assert patron.status == "suspended"
    [changed] = _events("patron.status_changed")
    assert changed.actor == "sato" and changed.detail["role"] == "supervisor"
    found = post_form(supervisor_client, "/staff/", "/staff/search", {"query": "taro@EXAMPLE"})
    assert patron.card_number in found.get_data(as_text=True)


def test_counter_may_not_search_read_reports_audit_or_manage(counter_client: FlaskClient) -> None:
    html = counter_client.get("/staff/").get_data(as_text=True)
    searched = counter_client.post(
        "/staff/search", data={"csrf_token": csrf_token(html), "query": "taro"}
    )
    assert searched.status_code == 403
    for path in (
        "/staff/reports",
        "/staff/reports/locked.csv",
        "/staff/audit",
        "/staff/admin/staff",
    ):
        assert counter_client.get(path).status_code == 403, path
    assert len(_events("staff.forbidden")) == 5


def test_console_speaks_english_on_request(counter_client: FlaskClient, patron: Any) -> None:
    page = counter_client.get("/staff/?lang=en").get_data(as_text=True)
    assert "Find a patron" in page and 'lang="en"' in page
    # The choice stays with the staff session.
    later = counter_client.get(f"/staff/patrons/{patron.id}").get_data(as_text=True)
    assert "Recent history" in later and "Reset the password" in later
