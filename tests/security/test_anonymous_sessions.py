"""Anonymous visitors keep no server-side state until something must be kept (SPEC §7)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.session import LoginSession
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.oidc import RelyingParty
from tests.support.oidc import csrf_token


def _sessions() -> int:
    return int(db.session.scalar(select(func.count()).select_from(LoginSession)) or 0)


def test_anonymous_pages_create_no_session_rows(client: FlaskClient) -> None:
    for _ in range(20):
        for path in ("/login", "/", "/login?lang=en", "/?lang=ja"):
            fresh = client.application.test_client()
            assert fresh.get(path).status_code == 200
        assert client.get("/login").status_code == 200
    assert _sessions() == 0


def test_the_login_form_works_with_the_signed_anonymous_cookie(
    client: FlaskClient, patron: Any
) -> None:
    page = client.get("/login?lang=en")
    cookie = client.get_cookie("idp_session")
    assert cookie is not None and "." in cookie.value  # signed data, no record id
    assert page.status_code == 200
    answer = client.post(
        "/login",
        data={
            "card_number": patron.card_number,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert answer.status_code == 302
    assert _sessions() == 1
    row = db.session.scalar(select(LoginSession))
    assert row is not None and row.patron_id == patron.id
    assert "." not in client.get_cookie("idp_session").value  # type: ignore[union-attr]


def test_a_forged_or_foreign_anonymous_cookie_is_ignored(client: FlaskClient) -> None:
    page = client.get("/login")
    value = client.get_cookie("idp_session").value  # type: ignore[union-attr]
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    client.set_cookie("idp_session", forged)
    answer = client.post(
        "/login",
        data={
            "card_number": "1234567890",
            "password": "x",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert answer.status_code == 400  # the CSRF token no longer matches any session
    assert _sessions() == 0


def test_a_pending_authorization_request_makes_a_record(rp: RelyingParty) -> None:
    response = rp.authorize()
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert _sessions() == 1


def test_anonymous_records_per_address_are_capped(
    app: Flask, rp: RelyingParty, portal: Any, patron: Any
) -> None:
    change_settings(app, IDP_SESSION_ANONYMOUS_PER_ADDRESS=3)
    for _ in range(6):
        other = RelyingParty.for_client(app.test_client(), portal, PORTAL_SECRET)
        assert other.authorize().status_code == 302
    assert _sessions() == 3
    # Another address is not affected by the first one's cap.
    other = RelyingParty.for_client(app.test_client(), portal, PORTAL_SECRET)
    other.browser.environ_base["REMOTE_ADDR"] = "192.0.2.99"
    assert other.authorize().status_code == 302
    assert _sessions() == 4
    # The newest request of the capped address still completes.
    code = rp.code_from(rp.login(rp.authorize(), patron.card_number, DEFAULT_PASSWORD))
    assert rp.exchange(code).status_code == 200
