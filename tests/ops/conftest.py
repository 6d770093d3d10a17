"""Fixtures for the operations tests: Redis on loopback, scratch databases, live servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

from idp import create_app
from idp.extensions import db
from tests.support.live import LiveServer
from tests.support.live import serve

#: The PostgreSQL server of the run (unset: the PostgreSQL tests are skipped).
PG_ADMIN_URL = os.environ.get("IDP_TEST_DATABASE_URL")
#: Nothing listens there: a Redis that is configured but down.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_url() -> str:
    """The real Redis of the run (``IDP_TEST_REDIS_URL``, else 127.0.0.1:6379 if it answers)."""
    url = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if "IDP_TEST_REDIS_URL" in os.environ:
            raise
        pytest.skip("no Redis on 127.0.0.1:6379 (set IDP_TEST_REDIS_URL to require it)")
    finally:
        client.close()
    return url


@pytest.fixture
def scratch_pg() -> Iterator[str]:
    """An empty PostgreSQL database of this test alone, dropped afterwards."""
    if not PG_ADMIN_URL:
        pytest.skip("IDP_TEST_DATABASE_URL names the PostgreSQL of the run")
    name = f"idp_ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def live_server(app_config: dict[str, Any]) -> Iterator[LiveServer]:
    """The shared live server, but on the real clock: these tests let real time pass."""
    with serve(app_config) as server:
        yield server


@pytest.fixture
def make_app(app_config: dict[str, Any], app: Flask) -> Iterator[Callable[..., Flask]]:
    """Build extra applications on the test's database; their connections close afterwards.

    Uses ``app`` too, so that the test's database is emptied afterwards (PostgreSQL).
    """
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        app = create_app({**app_config, **overrides})
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
            shared = app.extensions["idp"].redis
            if shared is not None:
                shared.close()
