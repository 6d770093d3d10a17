"""What a throttled or locked patron sees on the login page, and the staff commands."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.services.signin import SignInOutcome
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.signin import authenticate

THROTTLED_JA = "ログインの試行回数が多すぎます。1分ほど待ってから、もう一度お試しください。"
THROTTLED_EN = "Too many login attempts. Please wait 1 minutes and try again."
LOCKED_JA = "パスワードの誤りが続いたため、この貸出カードはロックされています。"
LOCKED_EN = "This library card has been locked"
WRONG_JA = "貸出カードの番号またはパスワードが正しくありません。"


def _lock(card: str, clock: Any) -> None:
    for _ in range(20):
        result = authenticate(card, "wrong-guess")
        while result.outcome is SignInOutcome.THROTTLED:
            clock.advance(seconds=result.retry_after)
            result = authenticate(card, "wrong-guess")


def test_throttled_login_says_so_in_japanese_with_retry_after(
    client: FlaskClient, patron: Any
) -> None:
    for _ in range(5):
        post_login(client, patron.card_number, "wrong-guess")
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    html = response.get_data(as_text=True)
    assert THROTTLED_JA in html
    assert WRONG_JA not in html


def test_throttled_login_says_so_in_english(client: FlaskClient, patron: Any) -> None:
    for _ in range(5):
        post_login(client, patron.card_number, "wrong-guess")
    response = post_login(client, patron.card_number, "wrong-guess", **{"Accept-Language": "en"})
    assert THROTTLED_EN in response.get_data(as_text=True)


def test_right_and_wrong_password_look_the_same_when_throttled(
    client: FlaskClient, patron: Any
) -> None:
    for _ in range(5):
        post_login(client, patron.card_number, "wrong-guess")
    right = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    wrong = post_login(client, patron.card_number, "wrong-guess")
    strip = lambda r: r.get_data(as_text=True).split('name="csrf_token"')[0]  # noqa: E731
    assert right.status_code == wrong.status_code == 429
    assert strip(right) == strip(wrong)
    assert client.get_cookie("idp_session") is not None
    assert db.session.scalar(select(Patron.last_login_at)) is None


def test_locked_login_says_so_in_both_languages(
    client: FlaskClient, patron: Any, clock: Any
) -> None:
    _lock(patron.card_number, clock)
    ja = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    en = post_login(client, patron.card_number, DEFAULT_PASSWORD, **{"Accept-Language": "en"})
    assert ja.status_code == en.status_code == 403
    assert LOCKED_JA in ja.get_data(as_text=True)
    assert LOCKED_EN in en.get_data(as_text=True)


def test_spray_from_one_address_is_refused_after_ten_a_minute(client: FlaskClient) -> None:
    statuses = [
        post_login(client, f"03000500{i:02d}", "1234", ip="198.51.100.30").status_code
        for i in range(12)
    ]
    assert statuses == [401] * 10 + [429, 429]
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "login.throttled")
    ).all()
    assert len(events) == 2
    assert {e.ip for e in events} == {"198.51.100.30"}
    assert all(e.detail["channel"] == "web" and e.user_agent for e in events)


def test_unlock_command_unlocks_a_locked_card(
    runner: FlaskCliRunner, patron: Any, clock: Any
) -> None:
    _lock(patron.card_number, clock)
    result = runner.invoke(args=["patrons", "unlock", patron.card_number])
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    db.session.refresh(patron)
    assert patron.locked_at is None and patron.failed_login_count == 0
    assert authenticate(patron.card_number, DEFAULT_PASSWORD).outcome is SignInOutcome.OK
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == "patron.unlocked"))


def test_unlock_command_accepts_the_card_as_typed(runner: FlaskCliRunner, patron: Any) -> None:
    result = runner.invoke(args=["patrons", "unlock", "０３００－０００－００１"])
    assert result.exit_code == 0
    assert "was not locked" in result.output


def test_unlock_command_refuses_an_unknown_card(runner: FlaskCliRunner, app: Any) -> None:
    result = runner.invoke(args=["patrons", "unlock", "0399999999"])
    assert result.exit_code == 1
    assert "no patron with card number '0399999999'" in result.output


def test_audit_command_filters_by_card_event_and_time(
    runner: FlaskCliRunner, client: FlaskClient, patron: Any, clock: Any
) -> None:
    from tests.support.factories import make_patron

    other = make_patron("0300000077")
    post_login(client, other.card_number, "wrong-guess", **{"User-Agent": "other/1"})
    clock.advance(days=2)
    post_login(client, patron.card_number, "wrong-guess", **{"User-Agent": "probe/1"})
    post_login(client, patron.card_number, DEFAULT_PASSWORD)
    result = runner.invoke(args=["audit", "--card", patron.card_number, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["event"] for r in rows] == ["login.failed", "login.ok"]
    assert rows[0]["card_number"] == patron.card_number
    assert rows[0]["ip"] == "192.0.2.10" and rows[0]["user_agent"] == "probe/1"
    failed = runner.invoke(args=["audit", "--event", "login.failed"])
    assert failed.output.count("login.failed") == 2
    assert "other/1" in failed.output
    day = clock.now.date().isoformat()
    recent = runner.invoke(args=["audit", "--since", day, "--event", "login.failed"])
    assert recent.output.count("login.failed") == 1
    assert "wrong-guess" not in failed.output + result.output


def test_audit_command_rejects_a_bad_date_and_an_unknown_card(
    runner: FlaskCliRunner, app: Any
) -> None:
    bad_date = runner.invoke(args=["audit", "--since", "yesterday"])
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    unknown = runner.invoke(args=["audit", "--card", "0399999999"])
    assert unknown.exit_code == 1 and "no patron" in unknown.output


def test_revocation_is_audited_with_address_and_user_agent(rp: Any, patron: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    rp.browser.post(
        "/revoke",
        data={"token": tokens["access_token"]},
        auth=(rp.client_id, rp.secret),
        headers={"User-Agent": "portal-backend/2"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "token.revoked"))
    assert event is not None
    assert (event.ip, event.user_agent, event.client_id) == (
        "10.0.0.5",
        "portal-backend/2",
        "portal",
    )
    assert tokens["access_token"] not in repr(event.detail)
