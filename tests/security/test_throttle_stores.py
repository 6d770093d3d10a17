"""Where the counters live: the real Redis on loopback, and the database when it is down."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select

from idp import create_app
from idp.extensions import db
from idp.models.throttle import ThrottleCounter
from idp.services.signin import SignInOutcome
from idp.services.signin import limiter
from idp.services.signin import unlock_card
from idp.services.signin.counters import FallbackStore
from tests.security.conftest import REDIS_URL
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.signin import authenticate

WRONG = "wrong-guess"
#: Nothing listens there: a Redis that is configured but down.
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def _counters_in_database() -> int:
    return int(db.session.scalar(select(func.count()).select_from(ThrottleCounter)) or 0)


@pytest.fixture
def on_redis(app_config: dict[str, Any], redis_prefix: str) -> dict[str, Any]:
    app_config.update(IDP_REDIS_URL=REDIS_URL, IDP_THROTTLE_REDIS_PREFIX=redis_prefix)
    return app_config


@pytest.fixture
def redis_down(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config.update(IDP_REDIS_URL=CLOSED_PORT_URL, IDP_REDIS_TIMEOUT_MS=100)
    return app_config


@pytest.fixture
def raw_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def test_redis_counts_the_card_and_the_source(
    on_redis: dict[str, Any], app: Flask, patron: Any, raw_redis: redis.Redis, redis_prefix: str
) -> None:
    outcomes = [
        authenticate(patron.card_number, WRONG, source_ip="198.51.100.20").outcome for _ in range(6)
    ]
    assert outcomes == [SignInOutcome.INVALID_CREDENTIALS] * 5 + [SignInOutcome.THROTTLED]
    keys = [k.decode() for k in raw_redis.scan_iter(f"{redis_prefix}*")]
    assert len(keys) == 5
    assert not any(patron.card_number in k or "198.51.100" in k for k in keys)
    assert _counters_in_database() == 0


def test_redis_counters_are_shared_by_every_node(
    on_redis: dict[str, Any], app: Flask, patron: Any, clock: Any
) -> None:
    _ = [authenticate(patron.card_number, WRONG) for _ in range(5)]
    # Read before the other app's context: inside it, this test's session would borrow
    # a connection from the other app's engine.
    card = patron.card_number
    other_node = create_app(on_redis)
    other_node.extensions["idp"].clock = clock
    with other_node.app_context():
        result = authenticate(card, DEFAULT_PASSWORD)
        db.session.remove()
        db.engine.dispose()
    assert result.outcome is SignInOutcome.THROTTLED
    assert result.retry_after == 60


def test_redis_backend_locks_and_resets_like_the_database(
    on_redis: dict[str, Any], app: Flask, clock: Any
) -> None:
    card = "0399999998"  # unknown: only the Redis counter can lock it
    for _ in range(20):
        result = authenticate(card, WRONG)
        while result.outcome is SignInOutcome.THROTTLED:
            clock.advance(seconds=result.retry_after)
            result = authenticate(card, WRONG)
    assert authenticate(card, WRONG).outcome is SignInOutcome.LOCKED
    # The lock is durable (card_failures), like an issued card's: only an unlock ends it.
    unlock_card(card)
    db.session.commit()
    assert authenticate(card, WRONG).outcome is SignInOutcome.INVALID_CREDENTIALS


def test_redis_down_falls_back_to_database_counters(
    redis_down: dict[str, Any], app: Flask, patron: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="idp.services.signin.counters"):
        outcomes = [authenticate(patron.card_number, WRONG).outcome for _ in range(6)]
    assert outcomes == [SignInOutcome.INVALID_CREDENTIALS] * 5 + [SignInOutcome.THROTTLED]
    assert _counters_in_database() == 1
    assert "counting in the database" in caplog.text
    store = limiter().store
    assert isinstance(store, FallbackStore) and store.name == "database"


def test_redis_down_never_fails_open_or_500_on_the_login_page(
    redis_down: dict[str, Any], client: FlaskClient, patron: Any
) -> None:
    statuses = [post_login(client, patron.card_number, WRONG).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert post_login(client, patron.card_number, DEFAULT_PASSWORD).status_code == 429


def test_redis_is_tried_again_after_the_retry_period(
    on_redis: dict[str, Any], app: Flask, patron: Any
) -> None:
    store = limiter().store
    assert isinstance(store, FallbackStore)
    store.shared.down_until = float("inf")  # as if Redis had just failed
    authenticate(patron.card_number, WRONG)
    assert _counters_in_database() == 1
    store.shared.down_until = 0.0
    authenticate(patron.card_number, WRONG)
    assert store.name == "redis"
    assert _counters_in_database() == 1


def test_database_store_counts_on_and_restarts_an_expired_counter(app: Flask) -> None:
    """One upsert per reservation: a live counter counts on and returns the reservation
    before; one whose time has passed starts again at one, its failures forgotten."""
    import datetime as dt

    from idp.services.signin.counters import DatabaseStore

    store = DatabaseStore()
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    keys = [("b:test", 60), ("a:test", 3600)]
    with app.app_context():
        first = store.reserve(keys, start)
        assert {k: (c.count, c.settled, c.previous) for k, c in first.items()} == {
            "a:test": (1, 0, None),
            "b:test": (1, 0, None),
        }
        store.settle(["a:test", "b:test"], start)
        later = start + dt.timedelta(seconds=30)
        second = store.reserve(keys, later)
        assert second["a:test"].count == 2 and second["a:test"].settled == 1
        assert second["b:test"].count == 2 and second["b:test"].previous == start
        # Each reservation extends its counter's life: a minute after the last one, b
        # has expired, a (an hour) has not.
        third_at = later + dt.timedelta(seconds=61)
        third = store.reserve(keys, third_at)
        assert (third["b:test"].count, third["b:test"].settled) == (1, 0)
        assert third["b:test"].previous is None
        assert third["b:test"].last == third_at
        assert (third["a:test"].count, third["a:test"].settled) == (3, 1)
        assert third["a:test"].previous == later
