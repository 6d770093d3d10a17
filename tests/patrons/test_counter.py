"""Counter tools: reset-password, renew, set-status, show, and the printed notice."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.models.session import LoginSession
from idp.models.token import Token
from idp.services.container import container
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token

CARD = "0300000001"


def _login(client: Any, card: str, password: str) -> Any:
    page = client.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    return client.post(
        "/login", data={"card_number": card, "password": password, "csrf_token": token}
    )


def _events() -> list[str]:
    return list(db.session.scalars(db.select(AuditEvent.event).order_by(AuditEvent.id)))


def _snapshot(patron: Patron) -> dict[str, Any]:
    db.session.refresh(patron)
    return {
        c.key: getattr(patron, c.key) for c in Patron.__table__.columns if c.key != "updated_at"
    }


def test_reset_password_issues_a_new_temporary_password_and_ends_sign_ins(
    runner: FlaskCliRunner,
    rp: Any,
    patron: Patron,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    now: dt.datetime,
) -> None:
    code = rp.sign_in(CARD, DEFAULT_PASSWORD, scope="openid offline_access")
    tokens = rp.exchange(code).get_json()
    patron.failed_login_count, patron.locked_at = 9, now
    db.session.commit()
    notice = tmp_path / "notice.html"
    caplog.set_level(logging.DEBUG)
    result = runner.invoke(
        args=["patrons", "reset-password", CARD, "--notice", str(notice), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    temporary = data["temporary_password"]
    assert len(temporary) == 8 and temporary.isdigit()
    db.session.refresh(patron)
    assert patron.is_temporary_password and patron.password_version == 2
    assert patron.failed_login_count == 0 and patron.locked_at is None
    assert patron.temporary_password_expires_at == now + dt.timedelta(days=30)
    assert container().passwords.verify(patron.password_hash, temporary)
    assert (
        db.session.scalar(
            db.select(db.func.count(LoginSession.id)).where(LoginSession.patron_id == patron.id)
        )
        == 0
    )
    assert rp.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert all(t.revoked_at is not None for t in db.session.scalars(db.select(Token)))
    assert _login(rp.browser.application.test_client(), CARD, DEFAULT_PASSWORD).status_code == 401
    # The password is in the output and the notice, nowhere else.
    html = notice.read_text(encoding="utf-8")
    assert temporary in html and CARD in html
    assert temporary not in caplog.text
    for row in db.session.scalars(db.select(AuditEvent)):
        assert temporary not in json.dumps(row.detail)
    assert temporary not in json.dumps({k: str(v) for k, v in _snapshot(patron).items()})
    assert {"password.reset", "password.temporary_issued", "sessions.ended"} <= set(_events())


def test_reset_password_plain_output_tells_until_when(
    runner: FlaskCliRunner, patron: Patron
) -> None:
    result = runner.invoke(args=["patrons", "reset-password", CARD])
    assert result.exit_code == 0
    assert "Temporary password:" in result.output and "Usable until:" in result.output


def test_after_a_reset_the_patron_changes_the_password_again(
    runner: FlaskCliRunner, client: Any, patron: Patron
) -> None:
    temporary = json.loads(
        runner.invoke(args=["patrons", "reset-password", CARD, "--json"]).output
    )["temporary_password"]
    response = _login(client, CARD, temporary)
    assert response.headers["Location"].endswith("/password/change")


@pytest.mark.parametrize(
    "args",
    [
        ["reset-password", "0399999999"],
        ["renew", "0399999999", "--expires", "2031-03-31"],
        ["set-status", "0399999999", "suspended"],
        ["show", "0399999999"],
    ],
)
def test_unknown_card_is_a_clear_error(
    runner: FlaskCliRunner, patron: Patron, args: list[str]
) -> None:
    before = _snapshot(patron)
    result = runner.invoke(args=["patrons", *args])
    assert result.exit_code == 1
    assert "no patron has the card number '0399999999'" in result.output
    assert _snapshot(patron) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set-status", CARD, "frozen"], "unknown status 'frozen'"),
        (["renew", CARD, "--expires", "someday"], "YYYY-MM-DD"),
        (["renew", CARD, "--expires", "2001-01-01"], "is in the past"),
    ],
)
def test_bad_values_change_nothing(
    runner: FlaskCliRunner, patron: Patron, args: list[str], message: str
) -> None:
    before = _snapshot(patron)
    result = runner.invoke(args=["patrons", *args])
    assert result.exit_code != 0 and message in result.output
    assert _snapshot(patron) == before


def test_renew_sets_the_expiry_and_lets_an_expired_card_in(
    runner: FlaskCliRunner, client: Any, clock: Any
) -> None:
    make_patron("0300000020", expires_on=dt.date(2030, 3, 31))
    clock.now = dt.datetime(2030, 4, 2, 3, 0, tzinfo=dt.UTC)
    assert _login(client, "0300000020", DEFAULT_PASSWORD).status_code == 403
    result = runner.invoke(args=["patrons", "renew", "0300000020", "--expires", "2033-03-31"])
    assert result.exit_code == 0 and "2033-03-31" in result.output
    assert _login(client, "0300000020", DEFAULT_PASSWORD).status_code == 302
    assert "patron.renewed" in _events()


def test_suspending_ends_sign_ins_and_reactivating_restores_login(
    runner: FlaskCliRunner, client: Any, patron: Patron
) -> None:
    _login(client, CARD, DEFAULT_PASSWORD)
    result = runner.invoke(args=["patrons", "set-status", CARD, "suspended"])
    assert result.exit_code == 0 and "suspended" in result.output
    assert (
        db.session.scalar(
            db.select(db.func.count(LoginSession.id)).where(LoginSession.patron_id.is_not(None))
        )
        == 0
    )
    assert _login(client, CARD, DEFAULT_PASSWORD).status_code == 403
    assert runner.invoke(args=["patrons", "set-status", CARD, "active"]).exit_code == 0
    assert _login(client, CARD, DEFAULT_PASSWORD).status_code == 302
    assert _events().count("patron.status_changed") == 2


def test_show_tells_the_state_without_secrets(
    runner: FlaskCliRunner, patron: Patron, client: Any
) -> None:
    _login(client, CARD, DEFAULT_PASSWORD)
    result = runner.invoke(args=["patrons", "show", CARD, "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["status"] == "active" and facts["expires_on"] == "2099-12-31"
    assert facts["email_registered"] is True and facts["email_verified"] is False
    assert facts["locked"] is False and facts["last_login_at"] is not None
    assert not {"password_hash", "email", "subject"} & set(facts)
    assert "taro@example.org" not in result.output and "$argon2" not in result.output
    plain = runner.invoke(args=["patrons", "show", CARD])
    assert "email verified" in plain.output and "no" in plain.output
    assert "patron.viewed" in _events()


def test_issue_writes_the_notice(runner: FlaskCliRunner, tmp_path: Path) -> None:
    notice = tmp_path / "notice.html"
    result = runner.invoke(
        args=[
            "patrons",
            "issue",
            "--card",
            "0300000000",
            "--expires",
            "2028-11-30",
            "--notice",
            str(notice),
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    temporary = json.loads(result.output)["temporary_password"]
    html = notice.read_text(encoding="utf-8")
    assert "貸出カード番号・仮パスワード通知書" in html
    assert "貸出カード番号は、大切に保管してください。" in html
    assert "0300000000" in html and temporary in html and "2028.11.30" in html
    assert "市立中央図書館" in html
    # The first-login steps carry this installation's real URLs.
    assert "http://localhost/account" in html and "http://localhost/password/reissue" in html
    assert (
        "仮パスワードではログインできません。Myライブラリで仮パスワードを変更してからご利用ください。"
        in html
    )
    assert "@page { size: A4" in html
    assert notice.stat().st_mode & 0o077 == 0  # it holds a password: owner only
    assert "まで利用できます" in html


def test_notice_uses_the_configured_mylibrary_url(
    runner: FlaskCliRunner, tmp_path: Path, app: Any
) -> None:
    change_settings(app, IDP_MYLIBRARY_URL="https://www.library.example.jp/mylibrary")
    notice = tmp_path / "n.html"
    runner.invoke(
        args=[
            "patrons",
            "issue",
            "--card",
            "0300000030",
            "--expires",
            "2028-11-30",
            "--notice",
            str(notice),
        ]
    )
    assert "https://www.library.example.jp/mylibrary" in notice.read_text(encoding="utf-8")


def test_import_writes_one_notice_page_per_generated_password(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    csv = tmp_path / "patrons.csv"
    csv.write_text(
        "card_number,password,temporary,expires_on,name,email\n"
        "0300000301,,true,2028-11-30,,\n"
        "0300000302,oldpass99,false,2028-11-30,,\n"
        "0300000303,,true,2029-01-31,,\n",
        encoding="utf-8",
    )
    notices = tmp_path / "notices.html"
    result = runner.invoke(args=["patrons", "import", str(csv), "--notices", str(notices)])
    assert result.exit_code == 0, result.output
    html = notices.read_text(encoding="utf-8")
    assert html.count('<section class="page">') == 2
    assert "0300000301" in html and "0300000303" in html and "0300000302" not in html
    assert "2029.01.31" in html
