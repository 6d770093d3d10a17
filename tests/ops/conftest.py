"""Fixtures for the operations tests: Redis on loopback, scratch databases, live servers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

#: The PostgreSQL server of the run (unset: the PostgreSQL tests are skipped).
PG_ADMIN_URL = os.environ.get("IDP_TEST_DATABASE_URL")
#: Nothing listens there: a Redis that is configured but down.
CLOSED_REDIS_URL = "redis://127.0.0.1:1/0"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
