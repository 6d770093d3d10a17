"""Login sessions: fresh logins on request, server-side logout, cookie flags (SPEC §3)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.session import LoginSession
from idp.services.logout import end_all_sessions
from tests.conftest import ISSUER
from tests.conftest import PORTAL_SECRET
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import RelyingParty
from tests.support.oidc import query_of


def _session_cookie_header(response: Any) -> str:
    names = ("idp_session=", "__Host-idp_session=")  # the prefix behind TLS
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(names)]
    assert found, response.headers
    return str(found[-1])


def test_prompt_login_asks_for_the_password_again_and_renews_auth_time(
    rp: Any, patron: Any, clock: Any
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    first_cookie = rp.browser.get_cookie("idp_session").value
    clock.advance(seconds=30)
    response = rp.authorize(prompt="login")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    wrong = rp.login(response, patron.card_number, "not-it")
    assert wrong.status_code == 401  # a session alone is not enough
    code = rp.code_from(rp.login(response, patron.card_number, DEFAULT_PASSWORD))
    claims = rp.verify_id_token(rp.exchange(code).get_json()["id_token"], ISSUER)
    assert claims["auth_time"] == int(clock.now.timestamp())
    assert rp.browser.get_cookie("idp_session").value != first_cookie


def test_max_age_zero_always_forces_a_login(rp: Any, patron: Any, clock: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(seconds=1)
    response = rp.authorize(max_age="0")
    assert response.headers["Location"].startswith("/login")


def test_logout_deletes_the_session_so_a_copied_cookie_is_useless(
    app: Flask, rp: Any, patron: Any
) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    stolen = rp.browser.get_cookie("idp_session").value
    rp.browser.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0
    thief = app.test_client()
    thief.set_cookie("idp_session", stolen)
    thief_rp = RelyingParty.for_client(thief, rp_client(app), PORTAL_SECRET)
    assert query_of(thief_rp.authorize(prompt="none"))["error"] == "login_required"


def rp_client(app: Flask) -> Any:
    from idp.models.client import Client

    return db.session.scalar(select(Client).where(Client.client_id == "portal"))


def test_ending_all_sessions_signs_out_every_browser_and_revokes_tokens(
    app: Flask, rp: Any, patron: Any
) -> None:
    phone = RelyingParty.for_client(app.test_client(), rp_client(app), PORTAL_SECRET)
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    phone.sign_in(patron.card_number, DEFAULT_PASSWORD)
    assert end_all_sessions(patron.id, reason="password.reset") == 2
    db.session.commit()
    assert query_of(rp.authorize(prompt="none"))["error"] == "login_required"
    assert query_of(phone.authorize(prompt="none"))["error"] == "login_required"
    userinfo = rp.browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient, patron: Any) -> None:
    header = _session_cookie_header(post_login(client, patron.card_number, DEFAULT_PASSWORD))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # plain http on localhost


@pytest.fixture
def behind_proxy(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["IDP_TRUST_PROXY"] = True
    return app_config


def test_trusted_proxy_https_makes_the_cookie_secure_and_sends_hsts(
    behind_proxy: dict[str, Any], client: FlaskClient, patron: Any
) -> None:
    response = post_login(
        client, patron.card_number, DEFAULT_PASSWORD, **{"X-Forwarded-Proto": "https"}
    )
    # Signed in although the form carried no Referer (our pages send no-referrer).
    assert response.status_code == 302
    assert "Secure" in _session_cookie_header(response)
    assert _session_cookie_header(response).startswith("__Host-idp_session=")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_trusted_proxy_plain_http_keeps_the_cookie_unsecured(
    behind_proxy: dict[str, Any], client: FlaskClient, patron: Any
) -> None:
    response = post_login(
        client, patron.card_number, DEFAULT_PASSWORD, **{"X-Forwarded-Proto": "http"}
    )
    assert "Secure" not in _session_cookie_header(response)
    assert "Strict-Transport-Security" not in response.headers


def test_forwarded_proto_is_ignored_without_a_trusted_proxy(
    client: FlaskClient, patron: Any
) -> None:
    response = post_login(
        client, patron.card_number, DEFAULT_PASSWORD, **{"X-Forwarded-Proto": "https"}
    )
    assert "Secure" not in _session_cookie_header(response)
    assert "Strict-Transport-Security" not in response.headers


def test_forwarded_for_is_the_audited_address_only_behind_a_trusted_proxy(
    behind_proxy: dict[str, Any], client: FlaskClient, patron: Any
) -> None:
    from idp.models.audit import AuditEvent

    post_login(client, patron.card_number, "wrong", **{"X-Forwarded-For": "203.0.113.50"})
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "login.failed"))
    assert event is not None and event.ip == "203.0.113.50"


def test_https_issuer_always_marks_the_cookie_secure(
    app_config: dict[str, Any], patron: Any
) -> None:
    from idp import create_app

    app_config["IDP_ISSUER"] = "https://login.library.example.jp"
    secure_app = create_app(app_config)
    with secure_app.app_context():
        from tests.support.factories import make_patron

        make_patron("0300000055")
        response = post_login(secure_app.test_client(), "0300000055", DEFAULT_PASSWORD)
        db.session.remove()
        db.engine.dispose()
    assert "Secure" in _session_cookie_header(response)
    assert "Strict-Transport-Security" in response.headers
