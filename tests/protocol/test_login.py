"""The hosted login page: messages, timing parity, normalisation, sessions, languages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.session import LoginSession
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.forms import login
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of

WRONG = "貸出カードの番号またはパスワードが正しくありません。"
TEMPORARY_DENY = (
    "仮パスワードではログインできません。Myライブラリで仮パスワードを変更してからご利用ください。"
)


def _post_login(client: FlaskClient, card: str, password: str, **headers: str) -> Any:
    return login(client, card, password, headers=headers)


def test_login_page_has_the_form_fields_in_japanese(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert 'name="card_number"' in html and 'name="password"' in html
    assert 'name="csrf_token"' in html
    assert '<html lang="ja">' in html
    assert '<label for="card_number">貸出カード番号</label>' in html


def test_login_page_in_english_from_accept_language(client: FlaskClient) -> None:
    html = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.8"}).get_data(
        as_text=True
    )
    assert '<html lang="en">' in html
    assert "Library card number" in html


def test_wtforms_own_messages_in_the_page_language_from_a_catalogue_read_once(
    client: FlaskClient,
) -> None:
    """A built-in validator's message (too long a card number) comes in the page's
    language, from WTForms' catalogue read once per language, not for every form."""
    from idp.views.support.page_form import wtforms_catalogue

    wtforms_catalogue.cache_clear()
    answers = [
        _post_login(client, "1" * 65, "x", **{"Accept-Language": lang})
        for lang in ("ja", "en", "ja", "en")
    ]
    texts = [answer.get_data(as_text=True) for answer in answers]
    assert all("フィールドは 64 文字を超えることはできません。" in text for text in texts[::2])
    assert all("Field cannot be longer than 64 characters." in text for text in texts[1::2])
    assert wtforms_catalogue.cache_info().misses == 2


def test_language_switch_is_remembered(client: FlaskClient) -> None:
    client.get("/login?lang=en")
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_unknown_card_and_wrong_password_get_the_same_answer(
    client: FlaskClient, patron: Any
) -> None:
    wrong_password = _post_login(client, patron.card_number, "not-the-password")
    unknown_card = _post_login(client, "0399999999", DEFAULT_PASSWORD)
    assert wrong_password.status_code == unknown_card.status_code == 401
    assert WRONG in wrong_password.get_data(as_text=True)
    assert WRONG in unknown_card.get_data(as_text=True)
    strip = lambda r: r.get_data(as_text=True).split('name="csrf_token"')[0]  # noqa: E731
    assert strip(wrong_password) == strip(unknown_card)


@pytest.mark.parametrize(
    "typed_card",
    ["０３００ ０００ ００１", "030-0000-001", " 0300000001 ", "０３００－０００－００１"],
)
def test_card_number_is_normalised(client: FlaskClient, patron: Any, typed_card: str) -> None:
    response = _post_login(client, typed_card, DEFAULT_PASSWORD)
    assert response.status_code == 302


def test_full_width_password_is_the_same_password(client: FlaskClient) -> None:
    make_patron("0300000002", password="yomu2468")
    assert _post_login(client, "0300000002", "ｙｏｍｕ２４６８").status_code == 302


def test_session_id_changes_at_login(client: FlaskClient, patron: Any) -> None:
    client.get("/login")
    before = client.get_cookie("idp_session")
    assert before is not None
    _post_login(client, patron.card_number, DEFAULT_PASSWORD)
    after = client.get_cookie("idp_session")
    assert after is not None and after.value != before.value
    assert after.http_only and after.same_site == "Lax"
    # The old id no longer names any session.
    assert db.session.scalar(db.select(db.func.count(LoginSession.id))) == 1


def test_temporary_password_cannot_sign_in_to_a_deny_client(vendor_rp: Any, app: Any) -> None:
    make_patron("0300000000", password="12345678", temporary=True)
    response = vendor_rp.login(vendor_rp.authorize(), "0300000000", "12345678")
    assert response.status_code == 403
    assert TEMPORARY_DENY in response.get_data(as_text=True)
    # No session either: prompt=none is still login_required.
    assert query_of(vendor_rp.authorize(prompt="none"))["error"] == "login_required"


def test_temporary_password_wrong_guess_gets_the_generic_message(vendor_rp: Any) -> None:
    make_patron("0300000000", password="12345678", temporary=True)
    response = vendor_rp.login(vendor_rp.authorize(), "0300000000", "12345679")
    assert WRONG in response.get_data(as_text=True)
    assert TEMPORARY_DENY not in response.get_data(as_text=True)


def test_expired_card_is_refused_with_renewal_message(client: FlaskClient, clock: Any) -> None:
    # Expiry is the end of the day in Asia/Tokyo: 15:00 UTC on the expiry date.
    expires = dt.date(2030, 3, 31)
    make_patron("0300000005", expires_on=expires)
    clock.now = dt.datetime(2030, 3, 31, 14, 59, tzinfo=dt.UTC)
    assert _post_login(client, "0300000005", DEFAULT_PASSWORD).status_code == 302
    client.post("/logout")
    other = client.application.test_client()
    clock.now = dt.datetime(2030, 3, 31, 15, 0, tzinfo=dt.UTC)
    response = _post_login(other, "0300000005", DEFAULT_PASSWORD)
    assert response.status_code == 403
    assert "貸出カードの有効期限が切れています" in response.get_data(as_text=True)


@pytest.mark.parametrize("status", ["suspended", "lost", "withdrawn"])
def test_inactive_cards_cannot_sign_in(client: FlaskClient, status: str) -> None:
    make_patron("0300000006", status=status)
    response = _post_login(client, "0300000006", DEFAULT_PASSWORD)
    assert response.status_code == 403
    assert "この貸出カードは現在ご利用いただけません" in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client: FlaskClient, patron: Any) -> None:
    response = client.post(
        "/login", data={"card_number": patron.card_number, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 400
    assert client.get_cookie("idp_session") is None or not db.session.scalar(
        db.select(LoginSession).where(LoginSession.patron_id.is_not(None))
    )


def test_login_events_are_audited_without_secrets(client: FlaskClient, patron: Any) -> None:
    _post_login(client, patron.card_number, "wrong-guess")
    _post_login(client, patron.card_number, DEFAULT_PASSWORD)
    events = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.event for e in events] == ["login.failed", "login.ok"]
    assert all(e.patron_id == patron.id for e in events)
    dump = repr([(e.detail, e.user_agent) for e in events])
    assert "wrong-guess" not in dump and DEFAULT_PASSWORD not in dump


def test_open_redirect_via_next_is_ignored(client: FlaskClient, patron: Any) -> None:
    page = client.get("/login?next=//attacker.example/")
    response = client.post(
        "/login?next=//attacker.example/",
        data={
            "card_number": patron.card_number,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.headers["Location"] == "/"


def test_hosted_pages_send_security_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_session_idle_timeout_signs_out(rp: Any, patron: Any, clock: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(hours=2, seconds=1)
    assert query_of(rp.authorize(prompt="none"))["error"] == "login_required"
