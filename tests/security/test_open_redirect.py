"""After login, ``next`` leads only to a path on this site, as the browser reads it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urljoin

import pytest
from flask.testing import FlaskClient

from idp.views.support.next_url import safe_next
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token

ORIGIN = "https://idp.example.org"
#: Targets a browser would send elsewhere, or that break a Location header.
HOSTILE = [
    "/\t/evil.example/phish",
    "/\n/evil.example",
    "/\r/evil.example",
    "\t//evil.example",
    " /x",
    "/x\n",
    "/x\r\nSet-Cookie: a=b",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/\x00x",
    "/\x7fx",
    "/\x85x",
    "/" + "a" * 600,
    "",
]
SAFE = ["/", "/account", "/card?x=1#top", "/%2F%2Fevil.example", "/図書館", "/a/../b"]


@pytest.mark.parametrize("target", HOSTILE)
def test_a_hostile_next_is_dropped(target: str) -> None:
    assert safe_next(target) is None


@pytest.mark.parametrize("target", SAFE)
def test_a_local_path_is_kept_and_stays_on_this_origin(target: str) -> None:
    assert safe_next(target) == target
    # Resolved the way a browser resolves a Location header: still this origin.
    assert urljoin(ORIGIN + "/login", target).startswith(ORIGIN + "/")


def _login(client: FlaskClient, card: str, password: str, next_: str) -> Any:
    page = client.get("/login")
    return client.post(
        "/login?next=" + next_,
        data={
            "card_number": card,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )


@pytest.mark.parametrize(
    "raw",
    [
        "%2F%09%2Fevil.example%2Fphish",
        "%2F%0A%2Fevil.example",
        "%0A",
        "%0D%0ALocation:%20https://evil.example/",
        "%2F%5Cevil.example",
    ],
)
def test_login_never_redirects_off_site_nor_fails(
    client: FlaskClient, patron: Any, raw: str
) -> None:
    response = _login(client, patron.card_number, DEFAULT_PASSWORD, raw)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_keeps_a_plain_local_next(client: FlaskClient, patron: Any) -> None:
    response = _login(client, patron.card_number, DEFAULT_PASSWORD, "%2Fcard")
    assert response.headers["Location"] == "/card"


def test_the_forced_password_change_drops_a_hostile_next(
    client: FlaskClient, app: Any, now: dt.datetime
) -> None:
    make_patron(
        "0300000020",
        password="12345678",
        temporary=True,
        temporary_password_expires_at=now + dt.timedelta(days=30),
    )
    first = _login(client, "0300000020", "12345678", "%2F%09%2Fevil.example%2Fphish")
    assert first.headers["Location"].endswith("/password/change")
    page = client.get("/password/change")
    changed = client.post(
        "/password/change",
        data={
            "current_password": "12345678",
            "new_password": "kasidasi77",
            "new_password_confirm": "kasidasi77",
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert changed.status_code == 302
    assert "evil" not in changed.headers["Location"]
    again = client.get(changed.headers["Location"])
    # The login form posts back to the carried next: nothing hostile survived.
    form = again.get_data(as_text=True).split('<form method="post" action="')[1].split('"')[0]
    assert "evil" not in form
    final = client.post(
        form.replace("&amp;", "&"),
        data={
            "card_number": "0300000020",
            "password": "kasidasi77",
            "csrf_token": csrf_token(again.get_data(as_text=True)),
        },
    )
    assert final.status_code == 302 and final.headers["Location"] == "/"
