"""Fixtures of the patron's own pages: a real SMTP server the provider sends to."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.mailserver import MailServer
from tests.support.oidc import csrf_token

#: Mail from the provider is read from here (configured as IDP_SMTP_URL).
MAIL_FROM = "library@example.org"


@pytest.fixture
def app_config(app_config: dict[str, Any], mail_server: MailServer) -> dict[str, Any]:
    """Every app in these tests sends its mail to the loopback SMTP server, with AUTH."""
    return {**app_config, "IDP_SMTP_URL": mail_server.url(), "IDP_MAIL_FROM": MAIL_FROM}


def submit(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    """GET ``path`` for its CSRF token, then POST ``data`` to it."""
    page = client.get(path, **kwargs)
    token = csrf_token(page.get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


def login(client: FlaskClient, card: str, password: str, path: str = "/login") -> TestResponse:
    return submit(client, path, {"card_number": card, "password": password})


def text_of(response: TestResponse) -> str:
    """The page text with tags removed and whitespace collapsed."""
    html = response.get_data(as_text=True)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())
