"""Changing an e-mail address needs the password; the old address is told; links wait.

A stolen session alone cannot move the re-issue mail to the thief's address: the change
asks for the current password through the sign-in core (channel ``email_change``, same
counters), the confirmed address that goes away receives a notice with a way to report
it, and a re-issue link goes only to an address confirmed ``IDP_REISSUE_EMAIL_MIN_AGE``
ago.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.services.container import container
from tests.account.conftest import text_of
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.forms import login
from tests.support.forms import submit
from tests.support.mailserver import MailServer
from tests.support.mailserver import link_in

THIEF = "thief@example.net"


def _save(client: FlaskClient, email: str, password: str | None) -> Any:
    data = {"email": email, "email2": "", "send_confirmation": "y"}
    if password is not None:
        data["current_password"] = password
    return submit(client, "/account", data)


def _reissue(client: FlaskClient, card: str, address: str) -> None:
    submit(client, "/password/reissue", {"card_number": card, "email": address})
    sender = container().background_mailer
    if sender is not None:
        sender.join()


def test_changing_the_address_without_the_password_changes_nothing(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    for password in (None, "not-the-password"):
        response = _save(client, THIEF, password)
        assert response.status_code == 400
        assert "現在のパスワードが正しくありません。" in text_of(response)
    db.session.refresh(patron)
    assert patron.email == "taro@example.org"
    assert mail_server.wait_for(1, timeout=0.3) == []
    failed = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "login.failed")).all()
    assert [e.detail["channel"] for e in failed] == ["email_change", "email_change"]


def test_guessing_through_the_account_form_is_throttled(
    client: FlaskClient, patron: Patron
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    statuses = [_save(client, THIEF, f"guess-{i}").status_code for i in range(8)]
    assert statuses == [400] * 5 + [429] * 3


def test_the_old_confirmed_address_is_told_with_a_way_to_report_it(
    client: FlaskClient, patron: Patron, mail_server: MailServer
) -> None:
    patron.is_email_verified = True
    db.session.commit()
    login(client, patron.card_number, DEFAULT_PASSWORD)
    assert _save(client, "new@example.jp", DEFAULT_PASSWORD).status_code == 302
    mails = {m["To"]: m for m in mail_server.wait_for(2)}
    notice = mails["taro@example.org"]
    assert notice["Subject"] == "メールアドレス変更のお知らせ"
    body = notice.get_content()
    assert "taro@example.org" in body and "図書館の窓口にご連絡" in body
    assert link_in(notice) == "http://localhost/password/reissue"
    assert "new@example.jp" in mails


def test_notification_choices_need_no_password(client: FlaskClient, patron: Patron) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    response = submit(
        client,
        "/account",
        {"email": "taro@example.org", "email2": "", "notify_due_date": "y"},
    )
    assert response.status_code == 302
    db.session.refresh(patron)
    assert patron.notify_due_date


def test_a_fresh_address_gets_no_reissue_link_until_it_has_aged(
    client: FlaskClient, patron: Patron, mail_server: MailServer, clock: Any
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    assert _save(client, "fresh@example.jp", DEFAULT_PASSWORD).status_code == 302
    [confirmation] = mail_server.wait_for(1)
    assert client.get(urlsplit(link_in(confirmation)).path).status_code == 200
    _reissue(client, patron.card_number, "fresh@example.jp")
    assert mail_server.wait_for(2, timeout=0.5) == [confirmation]
    clock.advance(hours=24)
    _reissue(client, patron.card_number, "fresh@example.jp")
    reissue = mail_server.wait_for(2)[1]
    assert reissue["To"] == "fresh@example.jp"
    assert reissue["Subject"] == "パスワード再発行のお知らせ"
