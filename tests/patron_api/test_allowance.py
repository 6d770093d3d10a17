"""Client allowances: a vendor's server checks many patrons from one address."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.client import Client
from idp.models.patron import Patron
from idp.services.allowance import Allowance
from idp.services.clients import ClientFileError
from idp.services.clients import parse_client
from idp.services.clients import sync_clients
from tests.conftest import Clock
from tests.patron_api.conftest import VENDOR_IP
from tests.patron_api.conftest import Check
from tests.patron_api.conftest import fetch_token
from tests.patron_api.conftest import make_api_client
from tests.rebuild import rebuild_limiter
from tests.security.conftest import REDIS_URL
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings

#: The allowance of the test's proxy client.
PER_MINUTE = 40
PER_DAY = 30
#: The default per-address limits.
DEFAULTS = {
    "IDP_THROTTLE_IP_PER_MINUTE": 10,
    "IDP_THROTTLE_NET_PER_MINUTE": 30,
    "IDP_THROTTLE_IP_FAILURES_PER_DAY": 100,
    "IDP_THROTTLE_NET_FAILURES_PER_DAY": 300,
}
THROTTLED = {"valid": False, "reason": "throttled"}


def set_limits(app: Flask, **limits: Any) -> None:
    """Change throttle settings (the throttle is built again on next use)."""
    change_settings(app, **limits)
    rebuild_limiter(app)


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, app: Flask) -> str:
    """Both throttle stores, with the default per-address limits."""
    set_limits(app, **DEFAULTS)
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        set_limits(app, IDP_REDIS_URL=REDIS_URL, IDP_THROTTLE_REDIS_PREFIX=prefix)
    return str(request.param)


@pytest.fixture
def proxy_token(client: FlaskClient, app: Flask) -> str:
    """The token of a client with an allowance."""
    make_api_client("proxy-api", checks_per_minute=PER_MINUTE, failures_per_day=PER_DAY)
    return fetch_token(client, "proxy-api", "patron:authenticate")


def body(response: Any) -> dict[str, Any]:
    found: dict[str, Any] = response.get_json()
    found.pop("retry_after", None)
    return found


def test_an_allowance_passes_more_checks_than_the_address_allows(
    store: str, check: Check, proxy_token: str, patron: Patron, clock: Clock
) -> None:
    for index in range(PER_MINUTE):
        answer = check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token)
        assert answer.get_json()["reason"] == "ok", index
    # The allowance itself throttles when exceeded, with the usual answer.
    over = check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token)
    assert over.status_code == 200
    assert over.get_json() == {**THROTTLED, "retry_after": over.get_json()["retry_after"]}
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    # The same address without an allowance: 10 checks, then throttled at the 11th.
    for index in range(10):
        assert check(patron.card_number, DEFAULT_PASSWORD).get_json()["reason"] == "ok", index
    assert body(check(patron.card_number, DEFAULT_PASSWORD)) == THROTTLED
    clock.advance(seconds=60)
    assert check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token).get_json()["valid"]
    # Audited as before: every check, with the client and the caller's address.
    events = [
        e
        for e in db.session.scalars(select(AuditEvent).where(AuditEvent.event.like("login.%")))
        if e.detail["channel"] == "api"
    ]
    assert len(events) == PER_MINUTE + 1 + 11 + 1
    assert {e.ip for e in events} == {VENDOR_IP}


def test_the_allowance_bounds_failures_per_day(
    store: str, check: Check, proxy_token: str, patron: Patron, clock: Clock
) -> None:
    for index in range(PER_DAY):
        answer = check(f"03{index:08d}", "1234", token=proxy_token)
        assert answer.get_json()["reason"] == "invalid_credentials"
        clock.advance(seconds=2)
    refused = check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token)
    assert body(refused) == THROTTLED
    assert int(refused.headers["Retry-After"]) > 60  # until the UTC day ends


def test_the_patrons_address_stays_limited_and_the_allowance_bounds_the_total(
    store: str, check: Check, proxy_token: str, patron: Patron
) -> None:
    # With patron_ip, the patron's address keeps its 10 a minute...
    for _ in range(10):
        answer = check(
            patron.card_number, DEFAULT_PASSWORD, token=proxy_token, patron_ip="203.0.113.5"
        )
        assert answer.get_json()["reason"] == "ok"
    one = check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token, patron_ip="203.0.113.5")
    assert body(one) == THROTTLED
    # ...and a client naming ever new addresses is still held to its allowance in total.
    # (the throttled check above was not counted: it was refused unchecked)
    for index in range(PER_MINUTE - 10):
        answer = check(
            patron.card_number,
            DEFAULT_PASSWORD,
            token=proxy_token,
            patron_ip=f"2001:db8:{index}::1",
        )
        assert answer.get_json()["reason"] == "ok", index
    rotated = check(
        patron.card_number, DEFAULT_PASSWORD, token=proxy_token, patron_ip="2001:db8:ff::1"
    )
    assert body(rotated) == THROTTLED


def test_the_per_card_lock_still_engages(
    store: str, app: Flask, check: Check, proxy_token: str, patron: Patron
) -> None:
    set_limits(app, IDP_THROTTLE_CARD_LOCK_AFTER=3)
    for _ in range(2):
        answer = check(patron.card_number, "wrong-guess", token=proxy_token)
        assert answer.get_json()["reason"] == "invalid_credentials"
    assert check(patron.card_number, "wrong-guess", token=proxy_token).get_json() == {
        "valid": False,
        "reason": "locked",
    }
    locked = check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token)
    assert locked.get_json()["reason"] == "locked"


def test_the_per_card_delays_still_apply(check: Check, proxy_token: str, patron: Patron) -> None:
    for _ in range(5):  # IDP_THROTTLE_CARD_FREE_FAILURES
        check(patron.card_number, "wrong-guess", token=proxy_token)
    delayed = check(patron.card_number, DEFAULT_PASSWORD, token=proxy_token)
    assert delayed.get_json() == {**THROTTLED, "retry_after": 60}


def test_a_limit_left_out_takes_the_per_address_default_counted_per_client(
    store: str, client: FlaskClient, check: Check, patron: Patron
) -> None:
    make_api_client("daily-only", failures_per_day=PER_DAY)
    token = fetch_token(client, "daily-only", "patron:authenticate")
    for index in range(10):  # IDP_THROTTLE_IP_PER_MINUTE, but for this client alone
        assert check(patron.card_number, DEFAULT_PASSWORD, token=token).get_json()["valid"], index
    assert body(check(patron.card_number, DEFAULT_PASSWORD, token=token)) == THROTTLED
    # The server's address was not used up: a client without an allowance still passes.
    assert check(patron.card_number, DEFAULT_PASSWORD).get_json()["reason"] == "ok"


HASH = "sha256:" + "0" * 64
FILE = {
    "client_id": "proxy",
    "client_secret_hash": HASH,
    "grant_types": ["client_credentials"],
    "scopes": ["patron:authenticate"],
}


def test_the_allowance_is_read_from_the_client_file_and_synced(app: Flask) -> None:
    spec = parse_client({**FILE, "checks_per_minute": 600}, "proxy.toml", {})
    assert spec.allowance == Allowance("client:proxy", 600, None)
    assert spec.extra == {}
    sync_clients([spec])
    db.session.commit()  # the test is the face here
    stored = db.session.scalar(select(Client).where(Client.client_id == "proxy"))
    assert stored is not None
    assert (stored.checks_per_minute, stored.failures_per_day) == (600, None)
    # Taking the keys out of the file takes the allowance away.
    sync_clients([parse_client(FILE, "proxy.toml", {})])
    db.session.commit()
    db.session.refresh(stored)
    assert (stored.checks_per_minute, stored.failures_per_day) == (None, None)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"checks_per_minute": 0}, "checks_per_minute must be between 1 and 6000, not 0"),
        ({"failures_per_day": 20000}, "failures_per_day must be between 1 and 10000, not 20000"),
        ({"failures_per_day": "5"}, "failures_per_day must be a whole number between 1 and 10000"),
        (
            {"failures_per_day": 5, "scopes": ["card:verify"]},
            "checks_per_minute and failures_per_day are for clients with the "
            "patron:authenticate scope",
        ),
    ],
)
def test_invalid_allowances_are_refused_at_load(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientFileError) as excinfo:
        parse_client({**FILE, **extra}, "proxy.toml", {})
    assert str(excinfo.value) == f"proxy.toml: {message}"
