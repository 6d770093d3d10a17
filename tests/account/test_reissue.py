"""Password re-issue by mail: same answer for everyone, a signed link good once for 30 min."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.models.session import LoginSession
from idp.models.token import Token
from idp.services.container import container
from tests.account.conftest import text_of
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.forms import login
from tests.support.forms import submit
from tests.support.mailserver import MailServer
from tests.support.mailserver import link_in

ADDRESS = "hanako@example.jp"
NEW = "kasidasi77"


@pytest.fixture
def hanako(app: Any) -> Patron:
    return make_patron("0300000010", email=ADDRESS, is_email_verified=True)


def _settle() -> None:
    """Wait for the background sender (re-issue mail never makes the request wait)."""
    sender = container().background_mailer
    if sender is not None:
        sender.join()


def _ask(client: FlaskClient, card: str, address: str) -> Any:
    response = submit(client, "/password/reissue", {"card_number": card, "email": address})
    _settle()
    return response


def _open(client: FlaskClient, link: str) -> Any:
    """Open the link as the mail's reader does: it is spent, the form is elsewhere."""
    return client.get(urlsplit(link).path, follow_redirects=True)


def _choose(client: FlaskClient, link: str, new: str, confirm: str | None = None) -> Any:
    opened = _open(client, link)
    assert opened.status_code == 200, opened.status_code
    assert opened.request.path == "/password/new"
    return submit(
        client, "/password/new", {"new_password": new, "new_password_confirm": confirm or new}
    )


def test_login_page_links_to_reissue(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/reissue"' in html and "パスワード再発行" in html


def test_matching_card_and_address_get_a_link(
    client: FlaskClient, hanako: Patron, mail_server: MailServer
) -> None:
    response = _ask(client, "0300-000-010", "HANAKO@example.jp")
    assert response.status_code == 200
    [mail] = mail_server.wait_for(1)
    assert mail["To"] == ADDRESS and mail["Subject"] == "パスワード再発行のお知らせ"
    assert "30分以内" in mail.get_content()
    assert link_in(mail).startswith("http://localhost/password/reissue/")


def test_the_answer_is_the_same_whatever_matched(
    client: FlaskClient, hanako: Patron, mail_server: MailServer
) -> None:
    make_patron("0300000011", email="unverified@example.jp", is_email_verified=False)
    make_patron("0300000012")
    pages = [
        text_of(_ask(client, card, address)).split("csrf")[0]
        for card, address in [
            ("0300000010", ADDRESS),  # match
            ("0300000010", "other@example.jp"),  # wrong address
            ("0300000011", "unverified@example.jp"),  # address not confirmed
            ("0300000012", "none@example.jp"),  # no address at all
            ("0399999999", ADDRESS),  # unknown card
        ]
    ]
    assert len(set(pages)) == 1
    assert "窓口でお申し出ください" in pages[0]
    assert len(mail_server.wait_for(1)) == 1
    assert mail_server.wait_for(2, timeout=0.3)[0]["To"] == ADDRESS


def test_link_sets_a_new_password_and_ends_everything(
    rp: Any, hanako: Patron, mail_server: MailServer, app: Any, now: dt.datetime
) -> None:
    code = rp.sign_in(hanako.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    tokens = rp.exchange(code).get_json()
    hanako.failed_login_count, hanako.locked_at = 7, now
    db.session.commit()
    other = app.test_client()
    _ask(other, hanako.card_number, ADDRESS)
    link = link_in(mail_server.wait_for(1)[0])
    form = _open(other, link)
    assert form.status_code == 200 and 'name="new_password"' in form.get_data(as_text=True)
    done = _choose(other, link, NEW)
    assert done.status_code == 200
    assert "新パスワードを登録しました" in text_of(done)
    db.session.refresh(hanako)
    assert hanako.failed_login_count == 0 and hanako.locked_at is None
    assert not hanako.is_temporary_password
    assert (
        db.session.scalar(
            db.select(db.func.count(LoginSession.id)).where(LoginSession.patron_id == hanako.id)
        )
        == 0
    )
    assert rp.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert all(t.revoked_at is not None for t in db.session.scalars(db.select(Token)))
    assert login(app.test_client(), hanako.card_number, NEW).status_code == 302
    assert login(app.test_client(), hanako.card_number, DEFAULT_PASSWORD).status_code == 401
    assert "password.reissued" in db.session.scalars(db.select(AuditEvent.event)).all()


def test_link_works_once(client: FlaskClient, hanako: Patron, mail_server: MailServer) -> None:
    _ask(client, hanako.card_number, ADDRESS)
    link = link_in(mail_server.wait_for(1)[0])
    assert _choose(client, link, NEW).status_code == 200
    again = client.get(urlsplit(link).path)
    assert again.status_code == 400
    assert "すでに使用されています" in text_of(again)


def test_link_expires_after_30_minutes(
    client: FlaskClient, hanako: Patron, mail_server: MailServer, clock: Any
) -> None:
    _ask(client, hanako.card_number, ADDRESS)
    link = link_in(mail_server.wait_for(1)[0])
    clock.advance(minutes=30, seconds=1)
    assert _open(client, link).status_code == 400
    db.session.refresh(hanako)
    assert hanako.password_version == 1


def test_new_password_follows_the_rules(
    client: FlaskClient, hanako: Patron, mail_server: MailServer
) -> None:
    _ask(client, hanako.card_number, ADDRESS)
    link = link_in(mail_server.wait_for(1)[0])
    assert "推測されやすい" in text_of(_choose(client, link, "0000"))
    assert "現在のパスワードと異なる" in text_of(_choose(client, link, DEFAULT_PASSWORD))
    assert "一致しません" in text_of(_choose(client, link, NEW, "kasidasi78"))
    refused = _choose(client, link, hanako.card_number)
    assert refused.status_code == 400 and "貸出カード番号は" in text_of(refused)
    # Still usable after refusals.
    assert _choose(client, link, NEW).status_code == 200


def test_mail_is_in_the_patrons_language(client: FlaskClient, mail_server: MailServer) -> None:
    make_patron("0300000013", email="en@example.com", is_email_verified=True, locale="en")
    _ask(client, "0300000013", "en@example.com")
    [mail] = mail_server.wait_for(1)
    assert mail["Subject"] == "Resetting your library password"
    assert "within 30 minutes" in mail.get_content()


def test_requests_are_limited_per_source_address(client: FlaskClient, hanako: Patron) -> None:
    answers = [_ask(client, "0399999999", "x@example.jp").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    assert "しばらく待ってから" in text_of(_ask(client, "0399999999", "x@example.jp"))


def test_mails_are_limited_per_card(app: Any, hanako: Patron, mail_server: MailServer) -> None:
    for number in range(5):
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = f"192.0.2.{number + 1}"
        assert _ask(browser, hanako.card_number, ADDRESS).status_code == 200
    assert len(mail_server.wait_for(3)) == 3
    assert len(mail_server.wait_for(4, timeout=0.3)) == 3


def test_a_bad_link_is_a_clear_error(client: FlaskClient) -> None:
    response = client.get("/password/reissue/not-a-token")
    assert response.status_code == 400
    assert "有効期限が切れているか" in text_of(response)


def test_the_link_is_spent_when_first_opened(
    app: Any, client: FlaskClient, hanako: Patron, mail_server: MailServer
) -> None:
    _ask(client, hanako.card_number, ADDRESS)
    link = link_in(mail_server.wait_for(1)[0])
    first = client.get(urlsplit(link).path)
    # The token is exchanged for a state in this browser's session; the form has no token.
    assert first.status_code == 303 and first.headers["Location"] == "/password/new"
    # Anyone else holding the link (a log, a proxy, a history) finds it used.
    stranger = app.test_client()
    again = stranger.get(urlsplit(link).path, follow_redirects=True)
    assert again.status_code == 400 and "すでに使用されています" in text_of(again)
    assert stranger.get("/password/new").status_code == 400
    # The browser that opened it still finishes the change.
    assert _choose(client, link, NEW).status_code == 200
    db.session.refresh(hanako)
    assert hanako.password_version == 2


def test_the_opened_form_has_a_short_time(
    client: FlaskClient, hanako: Patron, mail_server: MailServer, clock: Any
) -> None:
    _ask(client, hanako.card_number, ADDRESS)
    link = link_in(mail_server.wait_for(1)[0])
    assert _open(client, link).status_code == 200
    clock.advance(minutes=15, seconds=1)
    late = client.get("/password/new")
    assert late.status_code == 400 and "有効期限が切れているか" in text_of(late)
