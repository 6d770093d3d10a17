"""The protocol tests run against both token paths (see :func:`token_path`)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True, params=["fast_path", "authlib"])
def token_path(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """Every test here runs twice: with the WSGI fast path of the token endpoints
    (idp/views/support/fast.py) and with every request through Flask and Authlib."""
    app_config["IDP_FAST_PATH"] = request.param == "fast_path"
    return str(request.param)
