"""Helpers for the security tests: logins from chosen addresses, a Redis to count in."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from tests.oidc import csrf_token

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def post_login(
    client: FlaskClient,
    card: str,
    password: str,
    *,
    ip: str = "192.0.2.10",
    **headers: str,
) -> Any:
    """Submit the login form from ``ip`` (a fresh CSRF token each time)."""
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/login", environ_base=environ, headers=headers)
    return client.post(
        "/login",
        data={
            "card_number": card,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
        environ_base=environ,
        headers=headers,
    )


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards.

    Uses the real Redis on loopback (``IDP_TEST_REDIS_URL``, default 127.0.0.1:6379).
    """
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if "IDP_TEST_REDIS_URL" in os.environ:
            raise
        pytest.skip("no Redis on 127.0.0.1:6379 (set IDP_TEST_REDIS_URL to require it)")
    prefix = f"idp-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
