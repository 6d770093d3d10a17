"""One Redis client per process, shared by every user, and what happens when Redis is down."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from idp.redis_client import SharedRedis
from idp.services.container import shared_redis
from idp.services.signin import Slot
from idp.services.signin import limiter
from idp.services.signin.counters import FallbackStore
from tests.ops.conftest import CLOSED_REDIS_URL
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import csrf_token


@pytest.fixture
def prefix(redis_url: str) -> Any:
    value = f"idp-test:{uuid.uuid4().hex}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{value}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_the_limiter_uses_the_one_shared_client_and_pool(
    make_app: Callable[..., Flask], redis_url: str, prefix: str
) -> None:
    app = make_app(IDP_REDIS_URL=redis_url, IDP_THROTTLE_REDIS_PREFIX=prefix)
    with app.app_context():
        shared = shared_redis()
        assert isinstance(shared, SharedRedis)
        store = limiter().store
        assert isinstance(store, FallbackStore)
        assert store.primary.client is shared.client
        assert store.shared is shared
        kwargs = shared.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 0.25
        assert kwargs["health_check_interval"] == 30
        shared.close()


def test_no_redis_configured_means_no_client(app: Flask) -> None:
    assert shared_redis() is None
    assert limiter().store.name == "database"


def test_client_is_made_again_after_a_fork(redis_url: str) -> None:
    shared = SharedRedis(redis_url)
    first = shared.client
    assert shared.client is first
    shared._pid = os.getpid() + 1  # as seen from a forked worker
    assert shared.client is not first
    shared.close()


def test_one_failure_makes_every_user_skip_redis(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(IDP_REDIS_URL=CLOSED_REDIS_URL, IDP_REDIS_TIMEOUT_MS=100)
    with app.app_context(), caplog.at_level(logging.WARNING):
        ip = [Slot("reissue_ip", "192.0.2.1")]
        assert limiter().hit(ip) == 0
        shared = shared_redis()
        assert shared is not None and not shared.is_available()
        assert limiter().store.name == "database"  # no second timeout
        for _ in range(4):
            limiter().hit(ip)
        # Never open: the database still counts.
        assert limiter().hit(ip) > 0
        for _ in range(3):
            limiter().hit([Slot("card", "0399999991")])
        assert limiter().count("card", "0399999991") == 3  # in the database
        redis_checks = shared.client.connection_pool.connection_kwargs
        assert redis_checks["socket_timeout"] == 0.1
    warnings = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
    # One line per outage, not one per request.
    assert len(warnings) == 1
    assert "throttling (ConnectionError)" in warnings[0]


@pytest.fixture
def redis_down(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config.update(IDP_REDIS_URL=CLOSED_REDIS_URL, IDP_REDIS_TIMEOUT_MS=100)
    return app_config


def test_redis_down_patrons_still_sign_in(
    redis_down: dict[str, Any], client: FlaskClient, patron: Any
) -> None:
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code in {200, 302, 303}
    assert response.status_code != 401


def test_redis_down_reissue_form_answers_and_limits(
    redis_down: dict[str, Any], client: FlaskClient, patron: Any
) -> None:
    statuses = []
    for _ in range(12):
        page = client.get("/password/reissue")
        assert page.status_code == 200
        response = client.post(
            "/password/reissue",
            data={
                "card_number": patron.card_number,
                "email": "taro@example.org",
                "csrf_token": csrf_token(page.get_data(as_text=True)),
            },
        )
        statuses.append(response.status_code)
    assert 500 not in statuses
    assert statuses[0] == 200
    assert 429 in statuses  # the per-address limit still holds


def test_readyz_names_redis_when_it_is_down(
    redis_down: dict[str, Any], client: FlaskClient
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "redis": "down"}


def test_readyz_checks_redis_when_configured(
    make_app: Callable[..., Flask], redis_url: str
) -> None:
    app = make_app(IDP_REDIS_URL=redis_url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_readyz_names_the_database_when_it_is_down(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDP_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "down"}
    assert app.test_client().get("/healthz").status_code == 200


def test_free_failures_never_wait_even_if_another_node_clock_is_ahead() -> None:
    import datetime as dt

    from idp.services.signin.rules import BackoffRule

    rule = BackoffRule(free=5, delay=60, max_delay=3600, lock_after=20, forget=3600)
    now = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
    ahead = now + dt.timedelta(seconds=0.4)  # the last failure was counted by a node ahead
    assert rule.wait(3, ahead, now) == 0
    assert rule.wait(5, ahead, now) == 61  # a due delay still counts from the last failure
