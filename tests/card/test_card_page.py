"""The /card page and its JSON feed: login, recent login, no-store, refusals, script."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.extensions import db
from idp.settings import app_settings
from tests.card.conftest import STEP
from tests.card.conftest import current_value
from tests.card.conftest import log_in
from tests.rebuild import rebuild_cards
from tests.support.factories import change_settings
from tests.support.factories import make_patron

SVG_RE = re.compile(r"<svg\b.*?</svg>", re.S)


def test_logged_out_goes_to_login_and_comes_back(client: FlaskClient, patron: Any) -> None:
    response = client.get("/card")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/card"
    assert response.headers["Cache-Control"] == "no-store"
    back = log_in(client, patron.card_number, path=response.headers["Location"])
    assert back.headers["Location"] == "/card"
    assert client.get("/card").status_code == 200


def test_page_shows_number_expiry_barcode_countdown_and_notes(
    client: FlaskClient, signed_in: Any, aligned: Any
) -> None:
    response = client.get("/card")
    html = response.get_data(as_text=True)
    value = current_value(signed_in.card_number, aligned.now)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<dd>0300000001</dd>" in html
    assert "<dd>2099.12.31</dd>" in html
    svg = SVG_RE.search(html)
    assert svg is not None
    assert f">{value}</text>" in svg.group(0)  # human-readable digits under the bars
    assert 'id="card-seconds">29</span>' in html  # one second into the step
    assert "画面の明るさを上げてください" in html
    assert "図書館の窓口で資料と一緒にこの画面をご提示ください。" in html
    assert 'href="/card" id="card-refresh"' in html or 'id="card-refresh" href="/card"' in html


def test_page_in_english(client: FlaskClient, signed_in: Any) -> None:
    html = client.get("/card?lang=en").get_data(as_text=True)

    assert "<h1>Library card</h1>" in html
    assert "please raise the brightness of your screen" in html
    assert "The code changes in" in html


def test_page_has_no_inline_script_or_style(client: FlaskClient, signed_in: Any) -> None:
    html = client.get("/card").get_data(as_text=True)

    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script src="/static/card.js" defer>']
    assert "style=" not in html  # the CSP would block it (and paint the bars black)
    assert "<style" not in html


def test_script_is_served(client: FlaskClient) -> None:
    response = client.get("/static/card.js")

    assert response.status_code == 200
    assert response.mimetype in {"text/javascript", "application/javascript"}
    body = response.get_data(as_text=True)
    assert "/card/current.json" not in body  # the URL comes from the page
    assert "data-refresh-url" in body or "refresh-url" in body
    response.close()


def test_without_javascript_the_refresh_link_shows_the_next_code(
    client: FlaskClient, signed_in: Any, aligned: Any
) -> None:
    first = client.get("/card").get_data(as_text=True)
    aligned.advance(seconds=STEP)
    second = client.get("/card").get_data(as_text=True)

    assert current_value(signed_in.card_number, aligned.now) in second
    assert SVG_RE.search(first).group(0) != SVG_RE.search(second).group(0)  # type: ignore[union-attr]


def test_json_feed_gives_the_next_code_after_the_step(
    client: FlaskClient, signed_in: Any, aligned: Any
) -> None:
    aligned.advance(seconds=STEP - 2)  # 29 s into the step
    before = client.get("/card/current.json")
    aligned.advance(seconds=1)
    after = client.get("/card/current.json")

    assert before.headers["Cache-Control"] == "no-store"
    assert before.get_json()["seconds_left"] == 1
    assert after.get_json()["seconds_left"] == STEP
    assert after.get_json()["barcode"] == current_value(signed_in.card_number, aligned.now)
    assert after.get_json()["barcode"] != before.get_json()["barcode"]
    assert after.get_json()["svg"].startswith("<svg ")
    assert after.get_json()["symbology"] == "nw7"


def test_json_feed_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/card/current.json")

    assert response.status_code == 401
    assert response.get_json()["error"] == "login_required"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_old_login_must_log_in_again(
    app: Flask, client: FlaskClient, signed_in: Any, clock: Any
) -> None:
    change_settings(app, IDP_CARD_RECENT_LOGIN=600)
    rebuild_cards(app)
    clock.advance(seconds=599)
    assert client.get("/card").status_code == 200
    clock.advance(seconds=2)

    page = client.get("/card")
    feed = client.get("/card/current.json")

    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=/card"
    assert feed.status_code == 401
    # The patron is still signed in elsewhere; only the card asks for a fresh login.
    assert client.get("/account").status_code == 200
    log_in(client, signed_in.card_number)
    assert client.get("/card").status_code == 200


def test_default_recent_login_is_twelve_hours(app: Flask) -> None:
    assert app_settings(app).cards.recent_login == 12 * 3600


@pytest.mark.parametrize(
    ("change", "reason", "text"),
    [
        ({"status": "suspended"}, "suspended", "利用停止中"),
        ({"status": "lost"}, "lost", "紛失"),
        ({"status": "withdrawn"}, "withdrawn", "無効"),
        ({"expires_on": dt.date(2020, 3, 31)}, "card_expired", "有効期限が切れています"),
        ({"is_temporary_password": True}, "temporary_password", "仮パスワード"),
    ],
)
def test_cards_that_cannot_be_shown_say_why(
    client: FlaskClient, signed_in: Any, change: dict[str, Any], reason: str, text: str
) -> None:
    for name, value in change.items():
        setattr(signed_in, name, value)
    db.session.commit()

    response = client.get("/card")
    html = response.get_data(as_text=True)
    feed = client.get("/card/current.json")

    assert response.status_code == 403
    assert response.headers["Cache-Control"] == "no-store"
    assert f'data-reason="{reason}"' in html
    assert text in html
    assert "<svg" not in html
    assert "card.js" not in html
    assert feed.status_code == 403
    assert feed.get_json() == {"error": "card_unavailable", "reason": reason}


def test_temporary_password_links_to_the_change_form(client: FlaskClient, signed_in: Any) -> None:
    signed_in.is_temporary_password = True
    db.session.commit()

    assert 'href="/password/change"' in client.get("/card").get_data(as_text=True)


def test_home_and_account_pages_link_to_the_card(client: FlaskClient, signed_in: Any) -> None:
    assert 'href="/card"' in client.get("/").get_data(as_text=True)
    assert 'href="/card"' in client.get("/account").get_data(as_text=True)


def test_code128_when_configured(
    app: Flask, client: FlaskClient, signed_in: Any, aligned: Any
) -> None:
    change_settings(app, IDP_CARD_SYMBOLOGY="code128")
    rebuild_cards(app)

    html = client.get("/card").get_data(as_text=True)

    assert 'data-symbology="code128"' in html


def test_another_patrons_session_shows_their_own_card(app: Flask, patron: Any) -> None:
    other = make_patron("0300000055")
    browser = app.test_client()
    log_in(browser, other.card_number)

    html = browser.get("/card").get_data(as_text=True)

    assert "<dd>0300000055</dd>" in html
    assert patron.card_number not in html
