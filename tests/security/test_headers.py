"""Security headers on every hosted page and every JSON endpoint (SPEC §7)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import csrf_token

PAGES = [
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/authorize"),
    ("GET", "/authorize?client_id=portal&response_type=code&redirect_uri=https://x.example/"),
    ("GET", "/authorize/consent?rid=nothing"),
    ("GET", "/logout"),
    ("GET", "/no-such-page"),
    ("POST", "/signout"),
]
JSON_ENDPOINTS = [
    ("POST", "/token"),
    ("POST", "/revoke"),
    ("POST", "/introspect"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    ("GET", "/openapi.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/jwks.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]
SECRET_BEARING = {"/token", "/revoke", "/introspect", "/userinfo"}


def _assert_no_framing(response: Any) -> None:
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_every_hosted_page_has_strict_csp_no_framing_and_no_store(
    client: FlaskClient, portal: Any, method: str, path: str
) -> None:
    response = client.open(path, method=method)
    assert response.mimetype == "text/html"
    assert response.status_code < 500
    _assert_no_framing(response)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain http here


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_every_json_endpoint_allows_nothing_and_cannot_be_framed(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method)
    assert response.mimetype == "application/json"
    _assert_no_framing(response)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    if path in SECRET_BEARING:
        assert response.headers["Cache-Control"] == "no-store"


def test_token_and_userinfo_success_answers_are_not_stored(rp: Any, patron: Any) -> None:
    token = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD))
    assert token.status_code == 200
    assert token.headers["Cache-Control"] == "no-store"
    assert token.headers["Pragma"] == "no-cache"
    access = token.get_json()["access_token"]
    info = rp.browser.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 200 and info.headers["Cache-Control"] == "no-store"
    introspect = rp.browser.post(
        "/introspect", data={"token": access}, auth=(rp.client_id, rp.secret)
    )
    assert introspect.get_json()["active"] is True
    assert introspect.headers["Cache-Control"] == "no-store"


def test_authorization_response_redirect_is_not_stored_and_sends_no_referrer(
    rp: Any, patron: Any
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    response = rp.authorize()
    assert "code=" in response.headers["Location"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    _assert_no_framing(response)


def test_pages_use_no_inline_script_or_style(client: FlaskClient) -> None:
    for path in ("/", "/login", "/logout"):
        html = client.get(path).get_data(as_text=True)
        # Scripts only as files of our own (the login page's passkey button), never inline.
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
        assert html.count("<script") == len(scripts)
        assert all(not body.strip() for body in scripts)
        assert all(
            re.fullmatch(r'<script src="/static/[a-z-]+\.js" defer>', tag)
            for tag in re.findall(r"<script[^>]*>", html)
        )
        assert "<style" not in html and " style=" not in html
        assert " on" + "click=" not in html


def test_discovery_keeps_its_public_caching(client: FlaskClient) -> None:
    response = client.get("/.well-known/openid-configuration")
    assert response.headers["Cache-Control"].startswith("public")


def test_login_form_posts_back_with_a_csrf_token(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert csrf_token(html)
    assert client.post("/login", data={"card_number": "1", "password": "2"}).status_code == 400
