"""Helpers for the security tests: logins from chosen addresses, a Redis to count in."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import TEST_REDIS_URL
from tests.support.forms import login

REDIS_URL = TEST_REDIS_URL


@pytest.fixture(autouse=True, params=["fast_path", "authlib"])
def token_path(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """Every test here runs twice: with the WSGI fast path of the token endpoints
    (idp/views/support/fast.py) and with every request through Flask and Authlib."""
    app_config["IDP_FAST_PATH"] = request.param == "fast_path"
    return str(request.param)


def post_login(
    client: FlaskClient,
    card: str,
    password: str,
    *,
    ip: str = "192.0.2.10",
    **headers: str,
) -> Any:
    """Submit the login form from ``ip`` (a fresh CSRF token each time)."""
    return login(client, card, password, environ_base={"REMOTE_ADDR": ip}, headers=headers)
