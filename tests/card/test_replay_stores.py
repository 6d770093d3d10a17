"""Replay memory of card codes: database (first use wins), Redis, and the fallback."""

from __future__ import annotations

import logging
import threading
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
from idp.models.card_code import UsedCardCode
from idp.services.cards.codes import RedisReplayStore
from idp.services.cards.replay import DatabaseReplayStore
from idp.services.cards.replay import FallbackReplayStore
from idp.services.cards.service import card_service
from idp.services.container import container
from tests.card.conftest import REDIS_URL
from tests.card.conftest import current_value
from tests.card.conftest import post_verify
from tests.rebuild import rebuild_cards
from tests.support.factories import change_settings

#: Nothing listens there: a Redis that is configured but down.
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def _rows() -> int:
    return int(db.session.scalar(select(func.count()).select_from(UsedCardCode)) or 0)


def test_database_store_first_use_wins(app: Flask, clock: Any) -> None:
    store = DatabaseReplayStore(container().now)

    assert store.claim("k1", 60) is True
    assert store.claim("k1", 60) is False
    assert store.claim("k2", 60) is True
    assert _rows() == 2


def test_database_store_forgets_after_the_ttl(app: Flask, clock: Any) -> None:
    store = DatabaseReplayStore(container().now)
    store.claim("k1", 60)

    clock.advance(seconds=59)
    assert store.claim("k1", 60) is False
    clock.advance(seconds=1)
    assert store.claim("k1", 60) is True


def test_database_store_purges_expired_rows(app: Flask, clock: Any) -> None:
    store = DatabaseReplayStore(container().now, purge_every=1)
    store.claim("old-1", 60)
    store.claim("old-2", 60)
    clock.advance(seconds=61)

    store.claim("new", 60)

    assert list(db.session.scalars(select(UsedCardCode.key))) == ["new"]


def test_database_store_refuses_a_zero_ttl(app: Flask) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        DatabaseReplayStore(container().now).claim("k", 0)


def test_database_store_one_winner_among_concurrent_claims(app: Flask) -> None:
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claim() -> None:
        with app.app_context():
            store = DatabaseReplayStore(container().now)
            start.wait()
            won = store.claim("same-code", 60)
            db.session.remove()
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 5 + [True]


@pytest.fixture
def other_node(app_config: dict[str, Any], clock: Any) -> Iterator[Flask]:
    """A second node: its own app and engine, on the same database (and Redis)."""
    node = create_app(app_config)
    node.extensions["idp"].clock = clock
    yield node
    with node.app_context():
        db.session.remove()
        db.engine.dispose()


def _node_answer(node: Flask, token: str, code: str) -> dict[str, Any]:
    response = post_verify(node.test_client(), token, code)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_a_code_accepted_on_one_node_is_replayed_on_another(
    replay_backend: str,
    client: FlaskClient,
    desk_token: str,
    patron: Any,
    aligned: Any,
    other_node: Flask,
) -> None:
    value = current_value(patron.card_number, aligned.now)

    first = _node_answer(other_node, desk_token, value)
    second = post_verify(client, desk_token, value).get_json()

    assert first["valid"] is True
    assert second == {"valid": False, "reason": "replayed"}


def test_redis_store_keeps_no_card_number_in_its_keys(
    app: Flask,
    redis_prefix: str,
    client: FlaskClient,
    desk_token: str,
    patron: Any,
    aligned: Any,
) -> None:
    change_settings(app, IDP_REDIS_URL=REDIS_URL, IDP_CARD_REPLAY_REDIS_PREFIX=redis_prefix)
    rebuild_cards(app)

    post_verify(client, desk_token, current_value(patron.card_number, aligned.now))

    raw = redis.Redis.from_url(REDIS_URL)
    keys = [k.decode() for k in raw.scan_iter(f"{redis_prefix}*")]
    raw.close()
    assert len(keys) == 1
    assert patron.card_number not in keys[0]
    assert 0 < _ttl(keys[0]) <= 60
    assert _rows() == 0


def _ttl(key: str) -> int:
    raw = redis.Redis.from_url(REDIS_URL)
    try:
        return int(raw.ttl(key))
    finally:
        raw.close()


def test_redis_down_falls_back_to_the_database_and_says_so(
    app: Flask,
    client: FlaskClient,
    desk_token: str,
    patron: Any,
    aligned: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    change_settings(app, IDP_REDIS_URL=CLOSED_PORT_URL, IDP_REDIS_TIMEOUT_MS=100)
    rebuild_cards(app)
    value = current_value(patron.card_number, aligned.now)

    with caplog.at_level(logging.WARNING, logger="idp.services.cards.replay"):
        first = post_verify(client, desk_token, value).get_json()
    second = post_verify(client, desk_token, value).get_json()

    assert first["valid"] is True
    assert second == {"valid": False, "reason": "replayed"}
    assert _rows() == 1
    assert any("Redis unreachable for card-code replays" in r.message for r in caplog.records)
    store = card_service().replay.inner  # type: ignore[attr-defined]
    assert isinstance(store, FallbackReplayStore)
    assert store.name == "database"


def test_fallback_store_uses_redis_while_it_answers(app: Flask, redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    store = FallbackReplayStore(
        RedisReplayStore(client, redis_prefix), DatabaseReplayStore(container().now)
    )

    assert store.claim("k", 60) is True
    assert store.claim("k", 60) is False
    assert store.name == "redis"
    assert _rows() == 0
    client.close()
