"""Forms the way a browser sends them: fetch the page for its CSRF token, then post."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.oidc import csrf_token


def submit(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    """GET ``path`` for its CSRF token, then POST ``data`` to it (``kwargs`` go to both)."""
    page = client.get(path, **kwargs)
    token = csrf_token(page.get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


def login(
    client: FlaskClient, card: str, password: str, path: str = "/login", **kwargs: Any
) -> TestResponse:
    """Sign in with the login form at ``path`` (``kwargs`` go to both requests)."""
    return submit(client, path, {"card_number": card, "password": password}, **kwargs)
