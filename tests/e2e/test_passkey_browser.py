"""Patron passkeys in a real browser: Chromium's virtual authenticator (DevTools WebAuthn).

WebAuthn needs a secure context and a relying-party id that is a host name, so this
server's issuer is ``http://localhost:<port>`` (the other browser tests use 127.0.0.1).
The authenticator is a CTAP2 one with resident keys and user verification, as a phone's
platform authenticator is.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.passkey import PatronPasskey
from tests.conftest import Clock
from tests.e2e.browser import accessibility_violations
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.e2e.browser import virtual_authenticator
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer
from tests.support.live import serve
from tests.support.mailserver import MailServer

pytestmark = pytest.mark.e2e

#: The relying party's callback: a page of the IdP itself (no request interception).
CALLBACK_PATH = "/healthz"
SECRET = "rp-secret-0123456789-abcdefghijklmnopqrstu"


@pytest.fixture
def app_config(app_config: dict[str, Any], mail_server: MailServer) -> dict[str, Any]:
    return {**app_config, "IDP_SMTP_URL": mail_server.url(), "IDP_MAIL_FROM": "lib@example.org"}


@pytest.fixture
def server(app_config: dict[str, Any], clock: Clock) -> Iterator[LiveServer]:
    """The IdP on 127.0.0.1 with the issuer ``http://localhost:<port>``."""
    with serve(app_config, clock=clock, host="localhost") as server:
        yield server


def _password_login(page: Page, server: LiveServer, card_number: str, next_path: str) -> None:
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("input[name=card_number]", card_number)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()


def _register(page: Page, server: LiveServer, card_number: str, name: str) -> None:
    _password_login(page, server, card_number, "/account/passkeys")
    page.wait_for_url("**/account/passkeys")
    page.fill("input[name=name]", name)
    page.get_by_role("button", name="パスキーを追加").click()
    page.wait_for_selector("text=パスキーを追加しました。")


def _sign_out(context: BrowserContext) -> None:
    context.clear_cookies()


def _authorize_url(server: LiveServer, **extra: str) -> tuple[str, str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    nonce = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": server.url + CALLBACK_PATH,
        "scope": "openid",
        "state": "s",
        "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{server.url}/authorize?{urlencode(params)}", verifier, nonce


def _callback_params(page: Page) -> dict[str, str]:
    """The query of the page when it is the relying party's callback, else nothing."""
    parts = urlsplit(page.url)
    if parts.path != CALLBACK_PATH:
        return {}
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def _code_at_callback(page: Page, url: str) -> dict[str, str]:
    """Open ``url``; the callback's parameters if the IdP redirected there at once."""
    page.goto(url)
    return _callback_params(page)


def _exchange(server: LiveServer, code: str, verifier: str) -> dict[str, Any]:
    response = requests.post(
        f"{server.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": server.url + CALLBACK_PATH,
            "code_verifier": verifier,
        },
        auth=("rp", SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _id_token_claims(server: LiveServer, id_token: str) -> dict[str, Any]:
    jwks = requests.get(f"{server.url}/jwks.json", timeout=10).json()
    return dict(jwt.decode(id_token, KeySet.import_key_set(jwks)).claims)


def test_patron_adds_a_passkey_and_signs_in_with_it_without_a_password(
    server: LiveServer, mail_server: MailServer
) -> None:
    patron = make_patron(name="図書館 花子", email="hanako@example.org")
    make_client("rp", secret=SECRET, redirect_uris=[server.url + CALLBACK_PATH])
    with chromium() as browser:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        cdp, authenticator = virtual_authenticator(page)
        _register(page, server, patron.card_number, "私のスマホ")
        assert "私のスマホ" in page.content()
        notice = mail_server.wait_for(1)[0]
        assert notice["To"] == "hanako@example.org"
        assert "パスキー" in str(notice["Subject"])
        assert "私のスマホ" in notice.get_content()
        violations = accessibility_violations(page)
        assert not violations, [(v["id"], v["help"]) for v in violations]
        screenshot(page, "passkeys-list")
        stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(stored["credentials"]) == 1
        assert stored["credentials"][0]["isResidentCredential"]

        _sign_out(context)
        url, verifier, nonce = _authorize_url(server)
        caught = _code_at_callback(page, url)  # no session: the login page
        assert not caught
        assert page.locator("input[name=password]").count() == 1  # no passkey required
        violations = accessibility_violations(page)
        assert not violations, [(v["id"], v["help"]) for v in violations]
        screenshot(page, "login-with-passkey-button")
        page.get_by_role("button", name="パスキーでログイン").click()
        page.wait_for_url(f"**{CALLBACK_PATH}?**")
        caught = _callback_params(page)
    tokens = _exchange(server, caught["code"], verifier)
    claims = _id_token_claims(server, tokens["id_token"])
    assert claims["nonce"] == nonce
    assert claims["amr"] in (["hwk"], ["swk"])
    assert claims["acr"] in ("phrh", "phr")
    with server.app.app_context():
        row = db.session.query(PatronPasskey).one()
        assert row.last_used_at is not None and row.sign_count >= 1
        channels = [(e.event, e.detail.get("channel")) for e in db.session.query(AuditEvent).all()]
    assert ("login.ok", "passkey") in channels
    assert ("passkey.added", None) in channels


def test_suspended_card_is_refused_with_its_passkey(server: LiveServer) -> None:
    patron = make_patron()
    with chromium() as browser:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        virtual_authenticator(page)
        _register(page, server, patron.card_number, "key")
        patron.status = "suspended"
        db.session.commit()
        _sign_out(context)
        page.goto(f"{server.url}/login")
        with page.expect_response(f"{server.url}/login/passkey*") as answer:
            page.get_by_role("button", name="パスキーでログイン").click()
        assert answer.value.status == 403
        page.wait_for_selector("text=この貸出カードは現在ご利用いただけません")
    events = {(e.event, e.detail.get("outcome")) for e in db.session.query(AuditEvent).all()}
    assert ("login.refused", "suspended") in events


def test_a_removed_passkey_no_longer_signs_in(server: LiveServer) -> None:
    patron = make_patron()
    with chromium() as browser:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        virtual_authenticator(page)
        _register(page, server, patron.card_number, "old phone")
        page.get_by_role("button", name="old phoneを削除").click()
        page.wait_for_selector("text=パスキーを削除しました。")
        assert db.session.query(PatronPasskey).count() == 0
        _sign_out(context)
        page.goto(f"{server.url}/login")
        with page.expect_response(f"{server.url}/login/passkey*") as answer:
            page.get_by_role("button", name="パスキーでログイン").click()
        assert answer.value.status == 401


def test_require_passkey_client_refuses_a_password_session(server: LiveServer) -> None:
    patron = make_patron()
    make_client(
        "rp", secret=SECRET, redirect_uris=[server.url + CALLBACK_PATH], require_passkey=True
    )
    with chromium() as browser:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        _password_login(page, server, patron.card_number, "/account")
        page.wait_for_url("**/account")
        # Signed in with the password, no passkey: prompt=none → interaction_required.
        url, _verifier, _nonce = _authorize_url(server, prompt="none")
        assert _code_at_callback(page, url)["error"] == "interaction_required"
        # Without prompt=none: the login page offers only the passkey.
        url, _verifier, _nonce = _authorize_url(server)
        page.goto(url)
        assert page.locator("input[name=password]").count() == 0
        assert page.get_by_role("button", name="パスキーでログイン").is_visible()


def test_patron_approves_a_device_with_a_passkey(server: LiveServer) -> None:
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    make_client("tv", secret=SECRET, name="テレビアプリ", grant_types=[grant])
    patron = make_patron(name="図書館 花子")
    start = requests.post(
        f"{server.url}/device_authorization",
        data={"scope": "openid profile"},
        auth=("tv", SECRET),
        timeout=10,
    ).json()
    with chromium() as browser:
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        virtual_authenticator(page)
        _register(page, server, patron.card_number, "phone")
        _sign_out(context)
        page.goto(start["verification_uri_complete"])
        page.get_by_role("button", name="次へ").click()
        page.get_by_role("button", name="パスキーでログイン").click()
        page.wait_for_url("**/device/confirm")
        page.wait_for_selector("text=テレビアプリ")
        page.get_by_role("button", name="許可する").click()
        page.wait_for_selector("p[role=status]")
    tokens = requests.post(
        f"{server.url}/token",
        data={"grant_type": grant, "device_code": start["device_code"]},
        auth=("tv", SECRET),
        timeout=10,
    ).json()
    assert tokens["token_type"] == "Bearer", tokens
