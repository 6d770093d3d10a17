"""Fixtures of the patron's own pages: a real SMTP server the provider sends to."""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.support.mailserver import MailServer

#: Mail from the provider is read from here (configured as IDP_SMTP_URL).
MAIL_FROM = "library@example.org"


@pytest.fixture
def app_config(app_config: dict[str, Any], mail_server: MailServer) -> dict[str, Any]:
    """Every app in these tests sends its mail to the loopback SMTP server, with AUTH."""
    return {**app_config, "IDP_SMTP_URL": mail_server.url(), "IDP_MAIL_FROM": MAIL_FROM}


def text_of(response: TestResponse) -> str:
    """The page text with tags removed and whitespace collapsed."""
    html = response.get_data(as_text=True)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())
