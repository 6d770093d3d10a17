"""The example portal against the real IdP: both served on loopback in threads.

The IdP is the ``live_server`` of the end-to-end tests; the portal runs beside it on its
own port, registered from ``clients/example-portal.toml`` with its URLs moved to that
port. The "browser" is a requests session that follows redirects between the two.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask

from idp.extensions import db
from idp.services.backchannel import notifier
from idp.services.clients import parse_client
from idp.services.clients import sync_clients
from portal import create_app as create_portal
from tests.support.factories import make_patron
from tests.support.live import LiveServer
from tests.support.live import running

PORTAL_SECRET = "example-portal-test-secret-0123456789abcdef"
PORTAL_COOKIE_KEY = "example-portal-cookie-key-0123456789abcdef"
CLIENT_FILE = Path(__file__).resolve().parents[2] / "clients" / "example-portal.toml"
PASSWORD = "honyomu42"


@dataclass
class PortalServer:
    """The running portal: its URL and application."""

    url: str
    app: Flask

    @property
    def store(self) -> Any:
        return self.app.extensions["portal"].store


def register_portal(url: str) -> None:
    """Sync the shipped registration into the IdP, with the test portal's URLs."""
    text = CLIENT_FILE.read_text(encoding="utf-8").replace("http://127.0.0.1:5001", url)
    spec = parse_client(
        tomllib.loads(text), CLIENT_FILE.name, {"PORTAL_CLIENT_SECRET": PORTAL_SECRET}
    )
    sync_clients([spec])
    db.session.commit()


@pytest.fixture
def patron(live_server: LiveServer) -> Any:
    return make_patron("0300000001", password=PASSWORD, name="図書館 太郎")


@pytest.fixture
def portal_server(
    live_server: LiveServer, reserve_port: Callable[[], int]
) -> Iterator[PortalServer]:
    port = reserve_port()
    url = f"http://127.0.0.1:{port}"
    register_portal(url)
    app = create_portal(
        {
            "TESTING": True,
            "PORTAL_ISSUER": live_server.url,
            "PORTAL_CLIENT_SECRET": PORTAL_SECRET,
            "PORTAL_SECRET_KEY": PORTAL_COOKIE_KEY,
            "PORTAL_BASE_URL": url,
        }
    )
    with running(app, port):
        try:
            yield PortalServer(url, app)
        finally:
            # Deliveries still in flight must finish before either server goes away.
            notifier().drain()
            notifier().shutdown()


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def form_token(html: str) -> str:
    """The CSRF token of the first form in a page."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def log_in(browser: requests.Session, portal: PortalServer, card: str, password: str) -> str:
    """Portal → IdP login page → credentials → back at the portal; returns its page."""
    page = browser.get(f"{portal.url}/login", timeout=10)
    assert page.status_code == 200 and "/login" in page.url, page.url
    rid = parse_qs(urlsplit(page.url).query)["rid"][0]
    origin = f"{urlsplit(page.url).scheme}://{urlsplit(page.url).netloc}"
    done = browser.post(
        f"{origin}/login",
        data={
            "card_number": card,
            "password": password,
            "rid": rid,
            "csrf_token": form_token(page.text),
        },
        timeout=10,
    )
    assert done.status_code == 200, done.text
    assert done.url == f"{portal.url}/", done.url
    return done.text
