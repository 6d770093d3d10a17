"""CSRF tokens do not outlive a login, and the session cookie is ``__Host-`` behind TLS."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import csrf_token

HTTPS = "https://localhost"


def _login(client: FlaskClient, card: str, **kwargs: Any) -> tuple[str, Any]:
    token = csrf_token(client.get("/login", **kwargs).get_data(as_text=True))
    response = client.post(
        "/login",
        data={"card_number": card, "password": DEFAULT_PASSWORD, "csrf_token": token},
        **kwargs,
    )
    assert response.status_code == 302, response.status_code
    return token, response


def test_a_csrf_token_from_before_login_is_refused_after_it(
    client: FlaskClient, patron: Any
) -> None:
    before, _ = _login(client, patron.card_number)
    # A form posted with the pre-login token (one an attacker may have seen) is refused.
    refused = client.post("/logout", data={"confirm": "1", "csrf_token": before})
    assert refused.status_code == 400
    assert client.get("/account").status_code == 200  # still signed in
    # The pages after login carry a new token, which works.
    after = csrf_token(client.get("/logout").get_data(as_text=True))
    assert after != before
    assert client.post("/logout", data={"confirm": "1", "csrf_token": after}).status_code == 200
    assert client.get("/account").status_code == 302


def test_behind_tls_the_session_cookie_has_the_host_prefix(
    app: Flask, client: FlaskClient, patron: Any
) -> None:
    _, response = _login(client, patron.card_number, base_url=HTTPS)
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if "session" in h]
    name, _, attributes = cookie.partition("=")
    assert name == "__Host-idp_session"
    flags = {part.strip().split("=")[0].lower() for part in attributes.split(";")}
    assert {"secure", "httponly", "path"} <= flags and "domain" not in flags
    assert "Path=/" in cookie
    # The prefixed cookie is the one read back: the patron stays signed in.
    assert client.get("/account", base_url=HTTPS).status_code == 200
    # Logging out deletes the same prefixed cookie.
    token = csrf_token(client.get("/logout", base_url=HTTPS).get_data(as_text=True))
    out = client.post("/logout", data={"confirm": "1", "csrf_token": token}, base_url=HTTPS)
    assert any(h.startswith("__Host-idp_session=;") for h in out.headers.getlist("Set-Cookie"))


def test_over_plain_http_in_development_the_name_is_unchanged(
    client: FlaskClient, patron: Any
) -> None:
    _, response = _login(client, patron.card_number)
    assert any(h.startswith("idp_session=") for h in response.headers.getlist("Set-Cookie"))
