"""The portal's back-channel logout endpoint: every check of Back-Channel Logout §2.6."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey

from portal import create_app as create_portal
from portal.config import PortalConfigError
from portal.sessions import SignIn
from tests.portal.conftest import PORTAL_COOKIE_KEY
from tests.portal.conftest import PORTAL_SECRET
from tests.support.live import LiveServer

EVENT = "http://schemas.openid.net/event/backchannel-logout"
PATH = "/auth/backchannel-logout"


@pytest.fixture
def portal_app(live_server: LiveServer) -> Iterator[Flask]:
    """The portal in-process (test client); its keys come from the live IdP."""
    app = create_portal(
        {
            "TESTING": True,
            "PORTAL_ISSUER": live_server.url,
            "PORTAL_CLIENT_SECRET": PORTAL_SECRET,
            "PORTAL_SECRET_KEY": PORTAL_COOKIE_KEY,
        }
    )
    yield app


@pytest.fixture
def portal_client(portal_app: Flask) -> FlaskClient:
    return portal_app.test_client()


def _store(app: Flask) -> Any:
    return app.extensions["portal"].store


def _sign_in(app: Flask, sub: str, sid: str) -> str:
    return str(
        _store(app).add(
            SignIn(
                sub=sub,
                sid=sid,
                name=None,
                id_token="x",
                access_token="y",
                access_expires_at=time.time() + 600,
            )
        )
    )


def _token(
    live_server: LiveServer,
    *,
    key: Any = None,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A logout token signed with the IdP's key unless told otherwise."""
    idp_key = live_server.app.extensions["idp"].keys.active_key()
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": live_server.url,
        "aud": "example-portal",
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(8),
        "sub": "patron-sub",
        "sid": "session-1",
        "events": {EVENT: {}},
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name)
    used = key or idp_key
    head = {"alg": "RS256", "kid": idp_key.kid, "typ": "logout+jwt", **(header or {})}
    algorithms = [head["alg"]]
    return jwt.encode(head, payload, used, algorithms=algorithms)


def _post(client: FlaskClient, token: str | None) -> Any:
    data = {} if token is None else {"logout_token": token}
    response = client.post(PATH, data=data)
    assert response.headers["Cache-Control"] == "no-store"
    return response


def test_a_valid_token_ends_the_sign_ins_of_that_idp_session(
    live_server: LiveServer, portal_app: Flask, portal_client: FlaskClient
) -> None:
    _sign_in(portal_app, "patron-sub", "session-1")
    _sign_in(portal_app, "patron-sub", "session-1")
    kept = _sign_in(portal_app, "patron-sub", "session-2")
    assert _post(portal_client, _token(live_server)).status_code == 200
    assert list(_store(portal_app)._sign_ins) == [kept]


def test_a_token_with_only_sub_ends_every_sign_in_of_the_patron(
    live_server: LiveServer, portal_app: Flask, portal_client: FlaskClient
) -> None:
    _sign_in(portal_app, "patron-sub", "session-1")
    _sign_in(portal_app, "patron-sub", "session-2")
    kept = _sign_in(portal_app, "someone-else", "session-3")
    assert _post(portal_client, _token(live_server, drop=("sid",))).status_code == 200
    assert list(_store(portal_app)._sign_ins) == [kept]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"exp": int(time.time()) - 600}, "exp"),
        # exp far enough ahead that a long test run still sees it valid: only iat is wrong.
        ({"iat": int(time.time()) - 3600, "exp": int(time.time()) + 1800}, "iat"),
        ({"events": {"http://example.org/other": {}}}, "event"),
        ({"events": {EVENT: "yes"}}, "event"),
        ({"nonce": "abc"}, "nonce"),
        ({"drop": ("sid", "sub")}, "neither sid nor sub"),
        ({"drop": ("events",)}, "event"),
        ({"drop": ("jti",)}, "jti"),
        ({"drop": ("iat",)}, "iat"),
        ({"header": {"typ": "JWT"}}, "typ"),
    ],
)
def test_invalid_tokens_are_refused_with_400(
    live_server: LiveServer,
    portal_app: Flask,
    portal_client: FlaskClient,
    change: dict[str, Any],
    reason: str,
) -> None:
    kept = _sign_in(portal_app, "patron-sub", "session-1")
    response = _post(portal_client, _token(live_server, **change))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request" and reason in body["error_description"]
    assert list(_store(portal_app)._sign_ins) == [kept]


def test_a_token_signed_with_another_key_is_refused(
    live_server: LiveServer, portal_app: Flask, portal_client: FlaskClient
) -> None:
    kept = _sign_in(portal_app, "patron-sub", "session-1")
    forger = RSAKey.generate_key(2048)
    response = _post(portal_client, _token(live_server, key=forger))
    assert response.status_code == 400
    assert "signature" in response.get_json()["error_description"]
    unknown_kid = _token(live_server, key=forger, header={"kid": "not-published"})
    assert _post(portal_client, unknown_kid).status_code == 400
    assert list(_store(portal_app)._sign_ins) == [kept]


def test_symmetric_and_unsigned_tokens_are_refused(
    live_server: LiveServer, portal_client: FlaskClient
) -> None:
    secret = OctKey.import_key(PORTAL_SECRET)
    hs256 = _token(live_server, key=secret, header={"alg": "HS256"})
    assert _post(portal_client, hs256).status_code == 400
    head, payload, _sig = _token(live_server).split(".")
    unsigned = "eyJhbGciOiJub25lIn0." + payload + "."
    assert _post(portal_client, unsigned).status_code == 400
    assert _post(portal_client, head + "." + payload + ".AAAA").status_code == 400


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c", "x" * 20000])
def test_garbage_is_refused_with_400(portal_client: FlaskClient, token: str | None) -> None:
    response = _post(portal_client, token)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_a_replayed_token_is_refused(
    live_server: LiveServer, portal_app: Flask, portal_client: FlaskClient
) -> None:
    token = _token(live_server)
    assert _post(portal_client, token).status_code == 200
    later = _sign_in(portal_app, "patron-sub", "session-1")
    assert "jti" in _post(portal_client, token).get_json()["error_description"]
    assert list(_store(portal_app)._sign_ins) == [later]


def test_an_id_token_is_not_a_logout_token(
    live_server: LiveServer, portal_app: Flask, portal_client: FlaskClient
) -> None:
    kept = _sign_in(portal_app, "patron-sub", "session-1")
    id_token = _token(live_server, header={"typ": "JWT"}, nonce="n", drop=("events",))
    assert _post(portal_client, id_token).status_code == 400
    no_typ = _token(live_server, nonce="n", drop=("events",))
    assert _post(portal_client, no_typ).status_code == 400
    assert list(_store(portal_app)._sign_ins) == [kept]


def test_the_endpoint_needs_no_csrf_token_but_other_forms_do(
    live_server: LiveServer, portal_client: FlaskClient
) -> None:
    assert _post(portal_client, _token(live_server)).status_code == 200
    assert portal_client.post("/logout").status_code == 400


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"PORTAL_CLIENT_SECRET": ""}, "PORTAL_CLIENT_SECRET"),
        ({"PORTAL_SECRET_KEY": None}, "PORTAL_SECRET_KEY"),
        ({"PORTAL_SECRET_KEY": "short"}, "at least 32"),
    ],
)
def test_the_portal_refuses_to_start_without_its_secrets(
    settings: dict[str, Any], message: str
) -> None:
    base = {"PORTAL_CLIENT_SECRET": PORTAL_SECRET, "PORTAL_SECRET_KEY": PORTAL_COOKIE_KEY}
    with pytest.raises(PortalConfigError, match=message):
        create_portal({**base, **settings})
