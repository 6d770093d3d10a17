"""The account page: card facts, password change, e-mail addresses and their confirmation."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models.patron import Patron
from idp.models.session import LoginSession
from idp.models.token import Token
from tests.account.conftest import MAIL_FROM
from tests.account.conftest import text_of
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.forms import login
from tests.support.forms import submit
from tests.support.mailserver import MailServer
from tests.support.mailserver import link_in

SUBJECT = "利用者情報登録完了のお知らせ"


def _save(client: FlaskClient, **fields: Any) -> Any:
    """Save the account form; an address change needs the current password (given here)."""
    data = {
        "email": "",
        "email2": "",
        "send_confirmation": "y",
        "current_password": DEFAULT_PASSWORD,
        **fields,
    }
    return submit(client, "/account", {k: v for k, v in data.items() if v is not None})


def test_account_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/account")


def test_account_shows_the_card(client: FlaskClient, patron: Patron) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    page = text_of(client.get("/account"))
    assert patron.card_number in page
    assert "2099.12.31" in page and "利用可" in page
    assert "申請受付確認メールを送信する" in page


def test_home_page_links_to_the_account(client: FlaskClient, patron: Patron) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    assert 'href="/account"' in client.get("/").get_data(as_text=True)


def test_changing_the_password_ends_other_sessions_and_tokens(
    rp: Any, patron: Patron, app: Any
) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    tokens = rp.exchange(code).get_json()
    other = app.test_client()
    login(other, patron.card_number, DEFAULT_PASSWORD)
    assert db.session.scalar(db.select(db.func.count(LoginSession.id))) == 2
    response = submit(
        rp.browser,
        "/password/change",
        {
            "current_password": DEFAULT_PASSWORD,
            "new_password": "yomu2468",
            "new_password_confirm": "yomu2468",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "パスワードを変更しました。" in text_of(rp.browser.get("/account"))
    # This browser stays signed in; the other one is out; the refresh token is dead.
    assert other.get("/account").status_code == 302
    assert rp.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert db.session.scalars(db.select(Token.revoked_at)).all()[0] is not None
    db.session.refresh(patron)
    assert patron.password_version == 2


def test_account_password_change_needs_the_current_one(client: FlaskClient, patron: Patron) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    response = submit(
        client,
        "/password/change",
        {
            "current_password": "wrong",
            "new_password": "yomu2468",
            "new_password_confirm": "yomu2468",
        },
    )
    assert response.status_code == 400
    assert "現在のパスワードが正しくありません。" in text_of(response)


def test_registering_an_address_sends_the_confirmation_mail(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    response = _save(client, email="hanako@example.jp", notify_due_date="y")
    assert response.status_code == 302
    page = text_of(client.get("/account"))
    assert "利用者情報変更の申込が完了しました。" in page and "未確認" in page
    db.session.refresh(patron)
    assert patron.email == "hanako@example.jp" and not patron.is_email_verified
    assert patron.notify_due_date and not patron.notify_reservation
    [mail] = mail_server.wait_for(1)
    assert mail["Subject"] == SUBJECT and mail["To"] == "hanako@example.jp"
    # From carries the library's name as display name.
    assert mail["From"].addresses[0].display_name == "市立中央図書館"
    assert mail["From"].addresses[0].addr_spec == MAIL_FROM
    assert mail["Date"] and mail["Message-ID"]
    assert "メールアドレスの確認" in mail.get_content()
    confirmed = client.application.test_client().get(urlsplit(link_in(mail)).path)
    assert confirmed.status_code == 200
    assert "メールアドレスの確認が完了しました。" in text_of(confirmed)
    db.session.refresh(patron)
    assert patron.is_email_verified


def test_changing_the_address_resets_its_confirmation(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    patron.is_email_verified = True
    db.session.commit()
    login(client, patron.card_number, DEFAULT_PASSWORD)
    _save(client, email="new@example.jp", email2="second@example.jp")
    db.session.refresh(patron)
    assert not patron.is_email_verified and not patron.is_email2_verified
    mails = mail_server.wait_for(3)
    # The confirmed address that went away is told (with a way to report it).
    assert sorted(m["To"] for m in mails) == [
        "new@example.jp",
        "second@example.jp",
        "taro@example.org",
    ]
    # An old link (for the address before) does not confirm the new one.
    second = next(m for m in mails if m["To"] == "second@example.jp")
    _save(client, email="new@example.jp", email2="third@example.jp", send_confirmation=None)
    stale = client.get(urlsplit(link_in(second)).path)
    assert stale.status_code == 400
    db.session.refresh(patron)
    assert not patron.is_email2_verified


def test_without_the_check_box_no_mail_is_sent(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    _save(client, email="quiet@example.jp", send_confirmation=None)
    assert mail_server.wait_for(1, timeout=0.3) == []
    db.session.refresh(patron)
    assert patron.email == "quiet@example.jp"


def test_mail_is_in_english_for_a_patron_who_chose_english(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    client.get("/account?lang=en")
    _save(client, email="taro@example.com")
    [mail] = mail_server.wait_for(1)
    assert mail["Subject"] == "Your patron information has been registered"
    assert "confirm that this address is yours" in mail.get_content()
    db.session.refresh(patron)
    assert patron.locale == "en"


def test_a_bad_address_is_refused_and_nothing_changes(client: FlaskClient, patron: Patron) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    response = _save(client, email="not an address")
    assert response.status_code == 400
    assert "メールアドレスの形式が正しくありません。" in text_of(response)
    db.session.refresh(patron)
    assert patron.email == "taro@example.org"


def test_mail_failure_is_told_and_the_change_is_kept(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    mail_server.stop()
    response = _save(client, email="later@example.jp")
    assert response.status_code == 302
    page = text_of(client.get("/account"))
    assert "メールを送信できませんでした。しばらくしてから再度お試しください。" in page
    db.session.refresh(patron)
    assert patron.email == "later@example.jp"


@pytest.mark.parametrize("token", ["garbage", "x" * 3000])
def test_a_bad_confirmation_link_is_a_clear_error(client: FlaskClient, token: str) -> None:
    response = client.get(f"/account/verify-email/{token}")
    assert response.status_code in (400, 404)


def test_the_mail_goes_out_after_the_change_is_committed(
    client: FlaskClient, patron: Patron, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from idp.services.container import container

    login(client, patron.card_number, DEFAULT_PASSWORD)
    mailer = container().mailer
    send = mailer.send
    stored_when_sent: list[str | None] = []

    def send_and_look(message: Any) -> None:
        # Another connection sees only what is committed.
        with db.engine.connect() as conn:
            stored_when_sent.append(conn.scalar(select(Patron.email).where(Patron.id == patron.id)))
        send(message)

    monkeypatch.setattr(mailer, "send", send_and_look)
    assert _save(client, email="hanako@example.jp").status_code == 302
    assert stored_when_sent == ["hanako@example.jp"]
    assert len(mail_server.wait_for(1)) == 1
