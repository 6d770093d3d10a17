"""Temporary passwords at login: forced change (policy change), refusal (policy deny), expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.models.session import LoginSession
from tests.account.conftest import text_of
from tests.conftest import ISSUER
from tests.support.factories import make_patron
from tests.support.forms import login
from tests.support.forms import submit
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of

CARD, TEMPORARY, NEW = "0300000000", "12345678", "yomu2468"
CHANGED = "パスワードの変更を受け付けました。新パスワードにて改めてログインしてください。"
DENIED = (
    "仮パスワードではログインできません。Myライブラリで仮パスワードを変更してからご利用ください。"
)


@pytest.fixture
def temporary(app: Any, now: dt.datetime) -> Patron:
    return make_patron(
        CARD,
        password=TEMPORARY,
        temporary=True,
        temporary_password_expires_at=now + dt.timedelta(days=30),
    )


def _signed_in_sessions() -> int:
    return (
        db.session.scalar(
            db.select(db.func.count(LoginSession.id)).where(LoginSession.patron_id.is_not(None))
        )
        or 0
    )


def _change(client: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    return submit(
        client,
        "/password/change",
        {"current_password": current, "new_password": new, "new_password_confirm": confirm or new},
    )


def test_temporary_login_at_a_change_client_leads_to_the_change_form(
    rp: Any, temporary: Patron
) -> None:
    response = rp.login(rp.authorize(), CARD, TEMPORARY)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/password/change")
    page = rp.browser.get("/password/change")
    html = page.get_data(as_text=True)
    for field in ("current_password", "new_password", "new_password_confirm"):
        assert f'name="{field}"' in html
    assert "仮パスワード" in html and "4桁から20桁まで、数字のみでも可" in html
    # Not signed in while the password is temporary: prompt=none still needs a login.
    assert _signed_in_sessions() == 0
    assert query_of(rp.authorize(prompt="none"))["error"] == "login_required"


def test_after_the_change_the_original_request_continues(
    rp: Any, temporary: Patron, app: Any
) -> None:
    first = rp.authorize()
    rid = parse_qs(urlsplit(first.headers["Location"]).query)["rid"][0]
    state, nonce, verifier = rp.state, rp.nonce, rp.verifier
    rp.login(first, CARD, TEMPORARY)
    done = _change(rp.browser, TEMPORARY, NEW)
    assert done.status_code == 302
    again = rp.browser.get(done.headers["Location"])
    assert CHANGED in text_of(again)
    assert f'name="rid" type="hidden" value="{rid}"' in again.get_data(as_text=True)
    # Log in with the new password: the ORIGINAL request (state, nonce, PKCE) goes on.
    response = rp.browser.post(
        "/login",
        data={
            "card_number": CARD,
            "password": NEW,
            "rid": rid,
            "csrf_token": csrf_token(again.get_data(as_text=True)),
        },
    )
    assert (rp.state, rp.nonce, rp.verifier) == (state, nonce, verifier)
    code = rp.code_from(response)
    tokens = rp.exchange(code).get_json()
    assert rp.verify_id_token(tokens["id_token"], ISSUER)["nonce"] == nonce
    db.session.refresh(temporary)
    assert not temporary.is_temporary_password and temporary.temporary_password_expires_at is None
    assert temporary.password_version == 2


def test_old_temporary_password_no_longer_works(client: FlaskClient, temporary: Patron) -> None:
    login(client, CARD, TEMPORARY)
    _change(client, TEMPORARY, NEW)
    assert login(client.application.test_client(), CARD, TEMPORARY).status_code == 401


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("87654321", NEW, NEW, "現在のパスワードが正しくありません。"),
        (TEMPORARY, "abc", "abc", "新パスワードが短すぎます"),
        (TEMPORARY, NEW, "yomu2469", "新パスワードと新パスワード(確認用)が一致しません。"),
        (TEMPORARY, TEMPORARY, TEMPORARY, "現在のパスワードと異なる"),
        (TEMPORARY, CARD, CARD, "貸出カード番号は新パスワードに使用できません。"),
        (TEMPORARY, "1234", "1234", "推測されやすい"),
        (TEMPORARY, "ｙｏｍｕ　２４６８", "yomu 2468", "英字（A～Z、a～z）と数字（0～9）のみ"),
    ],
)
def test_a_refused_change_says_which_rule_failed(
    client: FlaskClient, temporary: Patron, current: str, new: str, confirm: str, message: str
) -> None:
    login(client, CARD, TEMPORARY)
    response = _change(client, current, new, confirm)
    assert response.status_code == 400
    assert message in text_of(response)
    db.session.refresh(temporary)
    assert temporary.is_temporary_password


def test_rule_messages_in_english(client: FlaskClient, temporary: Patron) -> None:
    client.get("/login?lang=en")
    login(client, CARD, TEMPORARY)
    response = _change(client, TEMPORARY, "1234")
    assert "too easy to guess" in text_of(response)


def test_pending_change_is_short_lived(client: FlaskClient, temporary: Patron, clock: Any) -> None:
    login(client, CARD, TEMPORARY)
    clock.advance(minutes=11)
    response = client.get("/password/change")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_change_page_without_login_goes_to_login(client: FlaskClient) -> None:
    response = client.get("/password/change")
    assert response.status_code == 302
    assert "/login?next=/account" in response.headers["Location"]


def test_expired_temporary_password_is_refused_in_both_languages(
    client: FlaskClient, temporary: Patron, clock: Any
) -> None:
    clock.advance(days=30)
    response = login(client, CARD, TEMPORARY)
    assert response.status_code == 403
    assert "仮パスワードの有効期限が切れています" in text_of(response)
    english = login(client, CARD, TEMPORARY, path="/login?lang=en")
    assert "temporary password has expired" in text_of(english)
    assert "counter" in text_of(english)
    assert client.get("/password/change").status_code == 302


def test_deny_client_refuses_with_the_seed_message_and_a_change_link(
    vendor_rp: Any, temporary: Patron
) -> None:
    response = vendor_rp.login(vendor_rp.authorize(), CARD, TEMPORARY)
    assert response.status_code == 403
    assert DENIED in text_of(response)
    assert 'href="/password/change"' in response.get_data(as_text=True)
    assert _signed_in_sessions() == 0


def test_back_to_the_service_returns_access_denied_with_iss_and_state(
    vendor_rp: Any, temporary: Patron
) -> None:
    first = vendor_rp.authorize()
    rid = parse_qs(urlsplit(first.headers["Location"]).query)["rid"][0]
    refused = vendor_rp.login(first, CARD, TEMPORARY)
    back = vendor_rp.browser.post(
        "/login/cancel",
        data={"rid": rid, "csrf_token": csrf_token(refused.get_data(as_text=True))},
    )
    answer = vendor_rp.browser.get(back.headers["Location"])
    assert answer.headers["Location"].startswith(vendor_rp.redirect_uri)
    params = query_of(answer)
    assert params["error"] == "access_denied"
    assert params["state"] == vendor_rp.state and params["iss"] == ISSUER
    assert "code" not in params


def test_cancel_without_a_pending_request_is_a_clear_error(client: FlaskClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login/cancel", data={"rid": "nope", "csrf_token": csrf_token(page.get_data(as_text=True))}
    )
    assert response.status_code == 400


def test_no_code_is_ever_issued_while_temporary(vendor_rp: Any, rp: Any, temporary: Patron) -> None:
    vendor_rp.login(vendor_rp.authorize(), CARD, TEMPORARY)
    rp.login(rp.authorize(), CARD, TEMPORARY)
    events = db.session.scalars(db.select(AuditEvent.event)).all()
    assert "code.issued" not in events
    assert events.count("login.refused") == 2


@pytest.mark.parametrize(
    ("status", "japanese", "english"),
    [
        ("suspended", "この貸出カードは現在ご利用いただけません", "cannot be used at the moment"),
        ("lost", "この貸出カードは現在ご利用いただけません", "ask at the library counter"),
    ],
)
def test_inactive_card_messages_in_both_languages(
    client: FlaskClient, status: str, japanese: str, english: str
) -> None:
    make_patron("0300000007", status=status)
    assert japanese in text_of(login(client, "0300000007", "honyomu42"))
    assert english in text_of(login(client, "0300000007", "honyomu42", path="/login?lang=en"))


def test_expired_card_message_in_english(client: FlaskClient, clock: Any) -> None:
    make_patron("0300000008", expires_on=dt.date(2030, 3, 31))
    clock.now = dt.datetime(2030, 3, 31, 15, 0, tzinfo=dt.UTC)
    response = login(client, "0300000008", "honyomu42", path="/login?lang=en")
    assert response.status_code == 403
    assert "renew it at the library counter" in text_of(response)
