"""The example site playing the e-library (``make elibrary``): the shipped d-library
registration, third party with the deny policy, and a "back to the service" that answers.

The settings are those the Makefile passes (client d-library, client_secret_post, the
scopes d-library may ask for, its own session cookie).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from idp.extensions import db
from idp.services.backchannel import notifier
from idp.services.clients import parse_client
from idp.services.clients import sync_clients
from portal import create_app as create_portal
from tests.portal.conftest import form_token
from tests.support.factories import make_patron
from tests.support.live import LiveServer
from tests.support.live import running

pytestmark = pytest.mark.e2e

CLIENT_FILE = Path(__file__).resolve().parents[2] / "clients" / "d-library.toml"
MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"
SECRET = "d-library-test-secret-0123456789abcdefghij"


@pytest.fixture
def elibrary(live_server: LiveServer, reserve_port: Callable[[], int]) -> Iterator[str]:
    port = reserve_port()
    url = f"http://127.0.0.1:{port}"
    text = CLIENT_FILE.read_text(encoding="utf-8").replace("http://127.0.0.1:5002", url)
    sync_clients(
        [parse_client(tomllib.loads(text), CLIENT_FILE.name, {"DLIBRARY_CLIENT_SECRET": SECRET})]
    )
    db.session.commit()
    app = create_portal(
        {
            "TESTING": True,
            "PORTAL_ISSUER": live_server.url,
            "PORTAL_CLIENT_ID": "d-library",
            "PORTAL_CLIENT_SECRET": SECRET,
            "PORTAL_TOKEN_AUTH_METHOD": "client_secret_post",
            "PORTAL_SCOPE": "openid library_card",
            "PORTAL_COOKIE_NAME": "elibrary_session",
            "PORTAL_SITE_NAME": "電子図書館",
            "PORTAL_SECRET_KEY": "example-elibrary-cookie-key-0123456789abcdef",
            "PORTAL_BASE_URL": url,
        }
    )
    with running(app, port):
        try:
            yield url
        finally:
            notifier().drain()


def test_the_makefile_plays_the_e_library_with_these_settings() -> None:
    target = MAKEFILE.read_text(encoding="utf-8").split("\nelibrary:", 1)[1].split("\n\n")[0]
    for setting in (
        "PORTAL_CLIENT_ID=d-library",
        "PORTAL_TOKEN_AUTH_METHOD=client_secret_post",
        'PORTAL_SCOPE="openid library_card"',
        "PORTAL_COOKIE_NAME=elibrary_session",
        "PORTAL_SITE_NAME=電子図書館",
        "ELIBRARY_PORT",
    ):
        assert setting in target, setting
    assert "5002" in CLIENT_FILE.read_text(encoding="utf-8")


def _login_page(browser: requests.Session, elibrary: str) -> tuple[requests.Response, str]:
    page = browser.get(f"{elibrary}/login", timeout=10)
    assert "/login?rid=" in page.url, page.url
    return page, parse_qs(urlsplit(page.url).query)["rid"][0]


def _origin(url: str) -> str:
    return f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"


def test_a_chosen_password_reaches_the_e_library_after_consent(elibrary: str) -> None:
    patron = make_patron("0300000001", password="yomu2468")
    with requests.Session() as browser:
        page, rid = _login_page(browser, elibrary)
        consent = browser.post(
            f"{_origin(page.url)}/login",
            data={
                "card_number": patron.card_number,
                "password": "yomu2468",
                "rid": rid,
                "csrf_token": form_token(page.text),
            },
            timeout=10,
        )
        assert "/authorize/consent" in consent.url or "consent" in consent.url, consent.url
        done = browser.post(
            consent.url,
            data={"allow": "1", "rid": rid, "csrf_token": form_token(consent.text)},
            timeout=10,
        )
        assert done.url == f"{elibrary}/", done.url
        assert done.status_code == 200
        assert "<h1>ようこそ</h1>" in done.text and "電子図書館" in done.text


def test_back_to_the_service_from_the_refusal_answers(elibrary: str) -> None:
    patron = make_patron("0300000000", password="12345678", temporary=True)
    with requests.Session() as browser:
        page, rid = _login_page(browser, elibrary)
        refusal = browser.post(
            f"{_origin(page.url)}/login",
            data={
                "card_number": patron.card_number,
                "password": "12345678",
                "rid": rid,
                "csrf_token": form_token(page.text),
            },
            timeout=10,
        )
        assert refusal.status_code == 403 and "仮パスワードではログインできません" in refusal.text
        back = re.search(r'action="(/login/cancel)"', refusal.text)
        assert back, refusal.text
        answer = browser.post(
            f"{_origin(page.url)}{back.group(1)}",
            data={"rid": rid, "csrf_token": form_token(refusal.text)},
            timeout=10,
        )
    # The e-library answered the access_denied with its own page (not a dead port).
    assert answer.url.startswith(f"{elibrary}/auth/callback?error=access_denied"), answer.url
    assert "ログインできませんでした" in answer.text
