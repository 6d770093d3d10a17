"""The example portal end to end against the real IdP: sign-in, card, logout, back-channel."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.session import LoginSession
from idp.services.backchannel import notifier
from tests.portal.conftest import PASSWORD
from tests.portal.conftest import PortalServer
from tests.portal.conftest import form_token
from tests.portal.conftest import log_in
from tests.support.live import LiveServer


def _idp_sessions() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count(LoginSession.id))) or 0)


def _barcode_value(html: str) -> str:
    found = re.search(r'id="barcode-value">(\d+)<', html)
    assert found, html
    return found.group(1)


def test_login_uses_the_code_flow_with_pkce_s256(
    live_server: LiveServer, portal_server: PortalServer, browser: requests.Session
) -> None:
    first = browser.get(f"{portal_server.url}/login", allow_redirects=False, timeout=10)
    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(f"{live_server.url}/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == "example-portal"
    assert params["redirect_uri"] == f"{portal_server.url}/auth/callback"
    assert params["scope"] == "openid profile library_card"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]


def test_patron_signs_in_sees_the_card_and_logs_out(
    live_server: LiveServer,
    portal_server: PortalServer,
    browser: requests.Session,
    patron: Any,
) -> None:
    home = log_in(browser, portal_server, patron.card_number, PASSWORD)
    assert '<span id="patron-name">図書館 太郎</span>さん' in home  # no space before さん
    assert _idp_sessions() == 1
    [sign_in] = portal_server.store._sign_ins.values()
    idp_session = db.session.scalar(select(LoginSession))
    assert idp_session is not None and sign_in.sid == idp_session.sid
    assert idp_session.clients == ["example-portal"]

    # The card page: the portal fetched the signed claim and verified it.
    page = browser.get(f"{portal_server.url}/card", timeout=10)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert patron.card_number in page.text
    value = _barcode_value(page.text)
    assert value.startswith(patron.card_number) and len(value) == len(patron.card_number) + 6
    assert "<svg" in page.text and 'fill="black"' in page.text and "style=" not in page.text
    assert 'src="/static/card.js"' in page.text and "<script>" not in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # The claim the portal verified is the one the IdP serves to this client.
    refreshed = browser.get(f"{portal_server.url}/card/barcode.json", timeout=10).json()
    # The IdP's clock stands still in tests: the same time step, the same code.
    assert refreshed["barcode"] == value
    assert refreshed["symbology"] == "nw7" and 0 < refreshed["expires_in"] <= 30
    assert refreshed["svg"].startswith("<svg")

    # Log out: the portal ends its sign-in, then the IdP session (RP-initiated logout).
    token = form_token(page.text)
    done = browser.post(f"{portal_server.url}/logout", data={"csrf_token": token}, timeout=10)
    assert done.status_code == 200
    assert done.url.startswith(f"{portal_server.url}/?state=")
    assert "ログアウトしました" in done.text
    assert _idp_sessions() == 0
    assert portal_server.store._sign_ins == {}
    # The IdP also told the portal over the back channel (a valid token, accepted).
    [result] = notifier().drain()
    assert (result.client_id, result.ok, result.attempts) == ("example-portal", True, 1)
    assert browser.get(f"{portal_server.url}/card", allow_redirects=False).status_code == 302


def test_logging_out_at_the_idp_ends_the_portal_sign_in(
    live_server: LiveServer,
    portal_server: PortalServer,
    browser: requests.Session,
    patron: Any,
) -> None:
    log_in(browser, portal_server, patron.card_number, PASSWORD)
    assert len(portal_server.store._sign_ins) == 1
    # The patron presses "log out" on the IdP's own page, not at the portal.
    idp_home = browser.get(f"{live_server.url}/", timeout=10)
    out = browser.post(
        f"{live_server.url}/signout", data={"csrf_token": form_token(idp_home.text)}, timeout=10
    )
    assert out.status_code == 200
    [result] = notifier().drain()
    assert result.ok
    # The portal dropped the sign-in: its cookie leads nowhere now.
    assert portal_server.store._sign_ins == {}
    home = browser.get(f"{portal_server.url}/", timeout=10)
    assert "ようこそ" not in home.text and "ログイン" in home.text
    assert browser.get(f"{portal_server.url}/card", allow_redirects=False).status_code == 302


def test_a_counter_action_signs_the_patron_out_of_the_portal(
    live_server: LiveServer,
    portal_server: PortalServer,
    browser: requests.Session,
    patron: Any,
) -> None:
    log_in(browser, portal_server, patron.card_number, PASSWORD)
    other = requests.Session()
    log_in(other, portal_server, patron.card_number, PASSWORD)
    assert len(portal_server.store._sign_ins) == 2
    runner = live_server.app.test_cli_runner()
    result = runner.invoke(args=["patrons", "set-status", patron.card_number, "suspended"])
    assert result.exit_code == 0, result.output
    assert [r.ok for r in notifier().drain()] == [True, True]
    assert portal_server.store._sign_ins == {}
    other.close()


def test_card_refresh_gets_the_next_code_after_the_step(
    live_server: LiveServer,
    portal_server: PortalServer,
    browser: requests.Session,
    patron: Any,
    clock: Any,
) -> None:
    log_in(browser, portal_server, patron.card_number, PASSWORD)
    first = browser.get(f"{portal_server.url}/card/barcode.json", timeout=10).json()
    clock.advance(seconds=30)
    second = browser.get(f"{portal_server.url}/card/barcode.json", timeout=10).json()
    assert first["barcode"] != second["barcode"]
    assert first["card_number"] == second["card_number"] == patron.card_number


def test_a_suspended_card_shows_why_instead_of_a_barcode(
    live_server: LiveServer,
    portal_server: PortalServer,
    browser: requests.Session,
    patron: Any,
) -> None:
    log_in(browser, portal_server, patron.card_number, PASSWORD)
    # Suspended after the sign-in (set directly, so no session ends).
    patron.status = "suspended"
    db.session.commit()
    page = browser.get(f"{portal_server.url}/card", timeout=10)
    assert "<svg" not in page.text
    assert 'role="alert"' in page.text and patron.card_number not in page.text
    assert "この貸出カードは利用停止中です。" in page.text


def test_the_barcode_claim_is_signed_by_the_idp(
    live_server: LiveServer,
    portal_server: PortalServer,
    browser: requests.Session,
    patron: Any,
) -> None:
    """What the portal relies on, checked independently: signature, iss, aud, sub, exp."""
    log_in(browser, portal_server, patron.card_number, PASSWORD)
    [sign_in] = portal_server.store._sign_ins.values()
    metadata = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=10)
    endpoint = metadata.json()["library_card_barcode_endpoint"]
    response = requests.get(
        endpoint, headers={"Authorization": f"Bearer {sign_in.access_token}"}, timeout=10
    )
    assert response.headers["Content-Type"].startswith("application/jwt")
    keys = KeySet.import_key_set(requests.get(metadata.json()["jwks_uri"], timeout=10).json())
    token = jwt.decode(response.text, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live_server.url},
        aud={"essential": True, "value": "example-portal"},
        sub={"essential": True, "value": sign_in.sub},
        exp={"essential": True},
    ).validate(token.claims)
    assert token.claims["exp"] > time.time()


@pytest.mark.parametrize("path", ["/card", "/card/barcode.json"])
def test_card_needs_a_sign_in(portal_server: PortalServer, path: str) -> None:
    response = requests.get(f"{portal_server.url}{path}", allow_redirects=False, timeout=10)
    assert response.status_code in {302, 401}
    if response.status_code == 302:
        assert response.headers["Location"] == "/login"
