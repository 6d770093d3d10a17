"""The inputs an outside review turned into 500s: each is now a clear 4xx."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.json_provider import MAX_DEPTH
from idp.json_provider import nesting_depth
from tests.support.factories import make_client

MACHINE_SECRET = "machine-secret-0123456789-abcdefghijklmn"
REDIRECT_URI = "https://portal.example.org/callback"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
def machine_token(app: Flask, client: FlaskClient) -> str:
    """A client-credentials token for both JSON APIs."""
    make_client(
        "machine",
        secret=MACHINE_SECRET,
        scopes=["patron:authenticate", "card:verify"],
        grant_types=["client_credentials"],
        redirect_uris=[],
        post_logout_redirect_uris=[],
    )
    basic = base64.b64encode(f"machine:{MACHINE_SECRET}".encode()).decode()
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "patron:authenticate card:verify"},
        headers={"Authorization": "Basic " + basic},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def _page_without_redirect(response: Any) -> None:
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("value", ['"', "\\", "é", "コード", "code\x7f", "\x01"])
def test_an_odd_response_type_of_a_known_client_is_refused(
    client: FlaskClient, portal: Any, value: str
) -> None:
    response = client.get(
        "/authorize",
        query_string={"response_type": value, "client_id": "portal", "redirect_uri": REDIRECT_URI},
    )
    _page_without_redirect(response)


@pytest.mark.parametrize(
    "uri",
    [
        'https://portal.example.org/callback"',
        "https://portal.example.org/callback\\",
        "https://portal.example.org/コールバック",
        "https://évil.example/",
        "https://portal.example.org/\x7f",
    ],
)
def test_an_unregistered_redirect_uri_with_odd_characters_is_refused(
    client: FlaskClient, portal: Any, uri: str
) -> None:
    response = client.get(
        "/authorize?response_type=code&client_id=portal&scope=openid&redirect_uri="
        + quote(uri, safe="")
    )
    _page_without_redirect(response)
    assert "&#34;" not in response.get_data(as_text=True) or '"' in uri


def test_an_openid_request_without_redirect_uri_is_refused(
    client: FlaskClient, portal: Any, patron: Any
) -> None:
    # The portal has one registered URI; OIDC Core §3.1.2.1 still requires the parameter.
    response = client.get(
        "/authorize",
        query_string={
            "response_type": "code",
            "client_id": "portal",
            "scope": "openid",
            "state": "s",
            "nonce": "n",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
        },
    )
    _page_without_redirect(response)
    assert "invalid_request" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/patrons/authenticate", "/api/card/verify"])
@pytest.mark.parametrize("depth", [30_000, MAX_DEPTH + 1])
def test_deeply_nested_json_is_a_bad_request(
    client: FlaskClient, machine_token: str, path: str, depth: int
) -> None:
    nested = min(depth, 10_000)  # objects take more bytes: stay under the 64 KiB body limit
    for body in ("[" * depth + "]" * depth, '{"a":' * nested + "1" + "}" * nested):
        response = client.post(
            path,
            data=body,
            content_type="application/json",
            headers={"Authorization": "Bearer " + machine_token},
        )
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"] == "invalid_request"


def test_the_depth_count_ignores_brackets_inside_strings() -> None:
    assert nesting_depth('{"a": "[[[[{{{{\\"[[["}') == 1
    assert nesting_depth(b"[[[]]]") == 3
    assert nesting_depth("[" * 40 + "]" * 40) == 40


# NUL: PostgreSQL text cannot hold it, so a raw parameter with NUL that reached a query was
# a DataError (a 500) there; SQLite stored it. These fail on the previous code under
# IDP_TEST_DATABASE_URL (PostgreSQL).


@pytest.mark.parametrize(
    ("method", "path", "is_json"),
    [
        ("GET", "/authorize?response_type=code&client_id=por%00tal", False),
        ("POST", "/authorize", False),
        ("GET", "/logout?client_id=por%00tal", False),
        ("POST", "/token", True),
        ("POST", "/revoke", True),
    ],
)
def test_a_nul_in_a_parameter_is_a_bad_request(
    client: FlaskClient, portal: Any, method: str, path: str, is_json: bool
) -> None:
    body = "grant_type=refresh_token&refresh_token=x&client_id=por%00tal&client_secret=s"
    response = client.open(
        path,
        method=method,
        data=body if method == "POST" else None,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    if is_json:
        assert response.get_json()["error"] == "invalid_request"
    else:
        assert response.mimetype == "text/html" and "Location" not in response.headers


def test_an_address_with_a_control_character_is_not_an_address() -> None:
    from idp.services.accounts.self_service import clean_email

    for odd in ("taro\x00@example.org", "taro@exa\x85mple.org", "taro@example.o\x7frg"):
        with pytest.raises(ValueError):
            clean_email(odd)
    assert clean_email(" 図書館@例え.jp ") == "図書館@例え.jp"


def test_a_nul_in_the_user_agent_is_audited_without_it(client: FlaskClient, patron: Any) -> None:
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models.audit import AuditEvent
    from tests.support.oidc import csrf_token

    agent = "Mozilla/5.0 \x00 evil"
    page = client.get("/login", headers={"User-Agent": agent})
    response = client.post(
        "/login",
        data={
            "card_number": patron.card_number,
            "password": "wrong-password",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
        headers={"User-Agent": agent},
    )
    assert response.status_code == 401
    agents = db.session.scalars(select(AuditEvent.user_agent)).all()
    assert "Mozilla/5.0  evil" in agents
