"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): tokens, deliveries, retries."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from joserfc import jws
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.services.backchannel import LOGOUT_EVENT
from idp.services.backchannel import notifier
from tests.conftest import ISSUER
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.oidc import RelyingParty
from tests.support.oidc import csrf_token

PORTAL_BCL = "https://portal.example.org/backchannel-logout"
VENDOR_BCL = "https://vendor.example.org/backchannel-logout"
OTHER_BCL = "https://other.example.org/backchannel-logout"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Quick retries so that failing deliveries finish fast."""
    return {**app_config, "IDP_BACKCHANNEL_BACKOFF_MS": 1, "IDP_BACKCHANNEL_RETRIES": 2}


@pytest.fixture(autouse=True)
def _stop_deliveries(app: Flask) -> Iterator[None]:
    """Every delivery ends inside its test; the pool's threads end with it."""
    yield
    found = app.extensions["idp"].backchannel
    if found is not None:
        found.shutdown()


@pytest.fixture
def portal(app: Flask) -> Any:
    """The first-party client, with a back-channel logout URI."""
    return make_client(
        "portal",
        secret="portal-secret-0123456789-abcdefghijklmnop",
        backchannel_logout_uri=PORTAL_BCL,
    )


@pytest.fixture
def vendor(app: Flask) -> Any:
    """The third-party client (pairwise subjects), with a back-channel logout URI."""
    return make_client(
        "vendor",
        secret="vendor-secret-0123456789-abcdefghijklmnop",
        first_party=False,
        policy="deny",
        subject_type="pairwise",
        auth_method="client_secret_post",
        scopes=["openid", "library_card"],
        grant_types=["authorization_code"],
        backchannel_logout_uri=VENDOR_BCL,
    )


@pytest.fixture
def other(app: Flask) -> Any:
    """A client with a back-channel URI that the patron never signs in to."""
    return make_client(
        "other", secret="other-secret-0123456789-abcdefghijklmnop", backchannel_logout_uri=OTHER_BCL
    )


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Captures the provider's outgoing POSTs (from its delivery threads too)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _code_after(party: RelyingParty, response: Any) -> str:
    """Follow the provider's redirects to the client's callback, consenting on the way."""
    while response.status_code == 302 and not response.headers["Location"].startswith(
        party.redirect_uri
    ):
        location = response.headers["Location"]
        if "/authorize/consent" in location:
            page = party.browser.get(location)
            token = csrf_token(page.get_data(as_text=True))
            response = party.browser.post(location, data={"csrf_token": token, "allow": "1"})
        else:
            response = party.browser.get(location)
    return party.code_from(response)


def _sign_in_both(rp: RelyingParty, vendor_rp: RelyingParty, patron: Patron) -> dict[str, Any]:
    """The patron signs in to the portal, then (same browser) to the vendor, consenting."""
    portal_tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    vendor_tokens = vendor_rp.exchange(_code_after(vendor_rp, vendor_rp.authorize("openid")))
    return {
        "portal": rp.verify_id_token(portal_tokens["id_token"], ISSUER),
        "vendor": vendor_rp.verify_id_token(vendor_tokens.get_json()["id_token"], ISSUER),
        "portal_id_token": portal_tokens["id_token"],
    }


def _rp_logout(rp: RelyingParty, id_token: str) -> Any:
    return rp.browser.get(
        "/logout",
        query_string={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "https://portal.example.org/",
        },
    )


def _logout_tokens(mock: responses.RequestsMock, url: str) -> list[str]:
    found = []
    for call in mock.calls:
        if call.request.url == url:
            assert call.request.method == "POST"
            assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
            body = call.request.body
            text = body.decode() if isinstance(body, bytes) else str(body)
            found.append(parse_qs(text)["logout_token"][0])
    return found


def _verify(client: FlaskClient, token: str, audience: str) -> dict[str, Any]:
    """Verify a logout token as a client would (§2.6), against the published JWKS."""
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": audience},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
        events={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.header["typ"] == "logout+jwt"
    assert decoded.header["kid"] in {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    return dict(decoded.claims)


def _add(mock: responses.RequestsMock, *urls: str, status: int = 200) -> None:
    for url in urls:
        mock.add(responses.POST, url, status=status)


def test_discovery_advertises_back_channel_logout(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


def test_rp_initiated_logout_notifies_every_client_of_the_session(
    app: Flask,
    rp: RelyingParty,
    vendor_rp: RelyingParty,
    patron: Patron,
    other: Any,
    mocked: responses.RequestsMock,
) -> None:
    _add(mocked, PORTAL_BCL, VENDOR_BCL, OTHER_BCL)
    seen = _sign_in_both(rp, vendor_rp, patron)
    response = _rp_logout(rp, seen["portal_id_token"])
    assert response.status_code == 302
    results = notifier().drain()
    assert sorted((r.client_id, r.ok, r.attempts) for r in results) == [
        ("portal", True, 1),
        ("vendor", True, 1),
    ]
    [portal_token] = _logout_tokens(mocked, PORTAL_BCL)
    [vendor_token] = _logout_tokens(mocked, VENDOR_BCL)
    portal_claims = _verify(rp.browser, portal_token, "portal")
    vendor_claims = _verify(rp.browser, vendor_token, "vendor")
    # The sid of the ID tokens; the sub each client knows (public / pairwise).
    assert portal_claims["sid"] == seen["portal"]["sid"] == vendor_claims["sid"]
    assert portal_claims["sub"] == seen["portal"]["sub"] == patron.subject
    assert vendor_claims["sub"] == seen["vendor"]["sub"] != patron.subject
    for claims in (portal_claims, vendor_claims):
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert "nonce" not in claims
        assert 0 < claims["exp"] - claims["iat"] <= 120
    assert portal_claims["jti"] != vendor_claims["jti"]
    # A client the patron never used in this session hears nothing.
    assert _logout_tokens(mocked, OTHER_BCL) == []
    events = db.session.scalars(
        db.select(AuditEvent.client_id).where(AuditEvent.event == "logout.backchannel")
    ).all()
    assert sorted(events) == ["portal", "vendor"]


def test_clients_without_a_back_channel_uri_are_skipped(
    app: Flask, client: FlaskClient, patron: Patron, mocked: responses.RequestsMock
) -> None:
    plain = make_client("plain", secret="plain-secret-0123456789-abcdefghijklmnop")
    party = RelyingParty.for_client(client, plain, "plain-secret-0123456789-abcdefghijklmnop")
    tokens = party.exchange(party.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    assert notifier().drain() == []
    assert len(mocked.calls) == 0


def test_the_logout_button_notifies_too(
    app: Flask, rp: RelyingParty, patron: Patron, mocked: responses.RequestsMock
) -> None:
    _add(mocked, PORTAL_BCL)
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    page = rp.browser.get("/")
    response = rp.browser.post(
        "/signout", data={"csrf_token": csrf_token(page.get_data(as_text=True))}
    )
    assert response.status_code == 302
    notifier().drain()
    [token] = _logout_tokens(mocked, PORTAL_BCL)
    assert _verify(rp.browser, token, "portal")["sub"] == patron.subject


def test_failing_client_is_retried_logged_and_audited(
    app: Flask,
    rp: RelyingParty,
    vendor_rp: RelyingParty,
    patron: Patron,
    mocked: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _add(mocked, PORTAL_BCL, status=503)
    _add(mocked, VENDOR_BCL)
    seen = _sign_in_both(rp, vendor_rp, patron)
    caplog.set_level(logging.INFO)
    assert _rp_logout(rp, seen["portal_id_token"]).status_code == 302
    results = {r.client_id: r for r in notifier().drain()}
    # One attempt and IDP_BACKCHANNEL_RETRIES (2) more; the other client is served once.
    assert (results["portal"].ok, results["portal"].attempts) == (False, 3)
    assert results["portal"].failure == "HTTP 503"
    assert (results["vendor"].ok, results["vendor"].attempts) == (True, 1)
    tokens = _logout_tokens(mocked, PORTAL_BCL)
    assert len(tokens) == 3
    warning = [r for r in caplog.records if r.name == "idp.backchannel"]
    assert len(warning) == 1 and warning[0].levelno == logging.WARNING
    assert "portal" in warning[0].getMessage() and "HTTP 503" in warning[0].getMessage()
    for token in tokens:
        assert token not in caplog.text
    row = db.session.scalar(
        db.select(AuditEvent).where(AuditEvent.event == "logout.backchannel_failed")
    )
    assert row is not None and row.client_id == "portal" and row.patron_id == patron.id
    assert row.detail["attempts"] == 3 and row.detail["failure"] == "HTTP 503"
    assert not any(token in str(row.detail) for token in tokens)


def test_a_client_that_refuses_is_not_retried(
    app: Flask, rp: RelyingParty, patron: Patron, mocked: responses.RequestsMock
) -> None:
    _add(mocked, PORTAL_BCL, status=400)
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    _rp_logout(rp, tokens["id_token"])
    [result] = notifier().drain()
    assert (result.ok, result.attempts, result.failure) == (False, 1, "HTTP 400")


def test_network_errors_are_retried_until_one_succeeds(
    app: Flask, rp: RelyingParty, patron: Patron, mocked: responses.RequestsMock
) -> None:
    mocked.add(responses.POST, PORTAL_BCL, body=requests.ConnectTimeout("no answer"))
    mocked.add(responses.POST, PORTAL_BCL, body=requests.ConnectionError("reset"))
    mocked.add(responses.POST, PORTAL_BCL, status=200)
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    _rp_logout(rp, tokens["id_token"])
    [result] = notifier().drain()
    assert (result.ok, result.attempts) == (True, 3)
    assert len(_logout_tokens(mocked, PORTAL_BCL)) == 3


def test_logout_does_not_wait_for_a_slow_client(
    app: Flask, rp: RelyingParty, patron: Patron, mocked: responses.RequestsMock
) -> None:
    release = threading.Event()
    answered: list[bool] = []

    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        # The client answers once the test lets it, after the logout's response; a logout
        # that waited for it would get the answer only when this gives up (False) instead.
        answered.append(release.wait(10))
        return 200, {}, ""

    mocked.add_callback(responses.POST, PORTAL_BCL, callback=slow)
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    response = _rp_logout(rp, tokens["id_token"])
    # The patron is signed out and redirected while the client still has not answered
    # (an order of events, not a duration: a busy machine makes neither side wrong).
    assert response.status_code == 302
    assert answered == []
    with pytest.raises(TimeoutError):
        notifier().drain(timeout=0.05)
    release.set()
    [result] = notifier().drain()
    assert result.ok
    assert answered == [True]


def test_a_client_that_never_answers_times_out(
    app: Flask, rp: RelyingParty, patron: Patron
) -> None:
    """A real socket that accepts and stays silent: the timeout applies to every attempt."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        _client("portal").backchannel_logout_uri = f"http://127.0.0.1:{port}/backchannel-logout"
        db.session.commit()
        live = notifier()
        live.timeout, live.retries, live.backoff = 0.2, 1, 0.0
        tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
        started = time.monotonic()
        assert _rp_logout(rp, tokens["id_token"]).status_code == 302
        assert time.monotonic() - started < 1.0
        [result] = live.drain(timeout=10)
        assert (result.ok, result.attempts, result.failure) == (False, 2, "timeout")
        assert time.monotonic() - started < 5


def _client(client_id: str) -> Any:
    from idp.models.client import Client

    found = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
    assert found is not None
    return found


def test_password_change_notifies_the_other_sessions_clients(
    app: Flask,
    rp: RelyingParty,
    vendor: Any,
    patron: Patron,
    mocked: responses.RequestsMock,
) -> None:
    _add(mocked, PORTAL_BCL, VENDOR_BCL)
    # This browser uses the portal; another browser uses the vendor.
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    other_browser = app.test_client()
    other = RelyingParty.for_client(
        other_browser, vendor, "vendor-secret-0123456789-abcdefghijklmnop"
    )
    _code_after(other, other.login(other.authorize("openid"), patron.card_number, DEFAULT_PASSWORD))
    page = rp.browser.get("/password/change")
    response = rp.browser.post(
        "/password/change",
        data={
            "current_password": DEFAULT_PASSWORD,
            "new_password": "yomu2468",
            "new_password_confirm": "yomu2468",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    [result] = notifier().drain()
    # The session that changed the password stays signed in: its portal is not told.
    assert result.client_id == "vendor" and result.ok
    assert _logout_tokens(mocked, PORTAL_BCL) == []
    [token] = _logout_tokens(mocked, VENDOR_BCL)
    assert _verify(rp.browser, token, "vendor")["events"] == {LOGOUT_EVENT: {}}


def test_counter_reset_notifies_every_session(
    app: Flask,
    runner: FlaskCliRunner,
    rp: RelyingParty,
    patron: Patron,
    mocked: responses.RequestsMock,
) -> None:
    _add(mocked, PORTAL_BCL)
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    sid = rp.verify_id_token(tokens["id_token"], ISSUER)["sid"]
    second = RelyingParty.for_client(
        app.test_client(), _client("portal"), "portal-secret-0123456789-abcdefghijklmnop"
    )
    second.sign_in(patron.card_number, DEFAULT_PASSWORD)
    result = runner.invoke(args=["patrons", "reset-password", patron.card_number])
    assert result.exit_code == 0, result.output
    results = notifier().drain()
    assert [r.ok for r in results] == [True, True]
    sids = {_verify(rp.browser, t, "portal")["sid"] for t in _logout_tokens(mocked, PORTAL_BCL)}
    assert len(sids) == 2 and sid in sids


def test_status_change_notifies(
    app: Flask,
    runner: FlaskCliRunner,
    rp: RelyingParty,
    patron: Patron,
    mocked: responses.RequestsMock,
) -> None:
    _add(mocked, PORTAL_BCL)
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    result = runner.invoke(args=["patrons", "set-status", patron.card_number, "suspended"])
    assert result.exit_code == 0, result.output
    [delivered] = notifier().drain()
    assert delivered.ok
    assert len(_logout_tokens(mocked, PORTAL_BCL)) == 1


def test_logout_token_header_names_the_signing_key(
    app: Flask, rp: RelyingParty, patron: Patron, mocked: responses.RequestsMock
) -> None:
    _add(mocked, PORTAL_BCL)
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    _rp_logout(rp, tokens["id_token"])
    notifier().drain()
    [token] = _logout_tokens(mocked, PORTAL_BCL)
    header = jws.extract_compact(token.encode()).protected
    assert header == {
        "alg": "RS256",
        "kid": app.extensions["idp"].keys.active_key().kid,
        "typ": "logout+jwt",
    }


def test_logout_still_works_when_the_delivery_pool_is_gone(
    app: Flask, rp: RelyingParty, patron: Patron, caplog: pytest.LogCaptureFixture
) -> None:
    notifier().shutdown()
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    assert _rp_logout(rp, tokens["id_token"]).status_code == 302
    assert "delivery pool is shut down" in caplog.text
