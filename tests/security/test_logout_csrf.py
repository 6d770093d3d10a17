"""Logout CSRF: only an ID token of this very sign-in ends it without asking."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.oidc import RelyingParty
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of

BYE = "https://portal.example.org/"


def _id_token(party: RelyingParty, card: str) -> str:
    token: str = party.exchange(party.sign_in(card, DEFAULT_PASSWORD)).get_json()["id_token"]
    return token


def _confirm_action(html: str) -> str:
    """Where the confirmation form posts (not the header's logout button)."""
    before = html.split('name="confirm"')[0]
    return before[before.rindex('action="') + len('action="') :].split('"')[0].replace("&amp;", "&")


def _signed_in(party: RelyingParty) -> bool:
    return "code" in query_of(party.authorize(prompt="none"))


@pytest.fixture
def attacker(app: Flask, portal: Any) -> RelyingParty:
    """Another browser, signed in as another patron: it holds a valid ID token of its own."""
    make_patron("0300000002")
    return RelyingParty.for_client(app.test_client(), portal, PORTAL_SECRET)


def test_a_valid_hint_of_another_patron_asks_first(
    rp: RelyingParty, patron: Any, attacker: RelyingParty
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    foreign = _id_token(attacker, "0300000002")
    page = rp.browser.get(
        "/logout", query_string={"id_token_hint": foreign, "post_logout_redirect_uri": BYE}
    )
    assert page.status_code == 200 and "Location" not in page.headers
    assert 'name="confirm"' in page.get_data(as_text=True)
    assert _signed_in(rp)
    # The patron confirms: signed out, and sent on to the registered URI.
    action = _confirm_action(page.get_data(as_text=True))
    done = rp.browser.post(
        action, data={"confirm": "1", "csrf_token": csrf_token(page.get_data(as_text=True))}
    )
    assert done.status_code == 302 and done.headers["Location"] == BYE
    assert not _signed_in(rp)


def test_a_hint_of_an_earlier_sign_in_asks_first(rp: RelyingParty, patron: Any) -> None:
    old = _id_token(rp, patron.card_number)
    rp.browser.post("/logout", data={"confirm": "1", "csrf_token": _logout_token(rp)})
    assert not _signed_in(rp)
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)  # a new session: a new sid
    page = rp.browser.get("/logout", query_string={"id_token_hint": old})
    assert page.status_code == 200 and 'name="confirm"' in page.get_data(as_text=True)
    assert _signed_in(rp)


def test_the_hint_of_this_sign_in_ends_it_at_once(rp: RelyingParty, patron: Any) -> None:
    own = _id_token(rp, patron.card_number)
    done = rp.browser.get(
        "/logout", query_string={"id_token_hint": own, "post_logout_redirect_uri": BYE}
    )
    assert done.status_code == 302 and done.headers["Location"] == BYE
    assert not _signed_in(rp)


def test_with_nobody_signed_in_a_valid_hint_just_redirects(
    app: Flask, rp: RelyingParty, patron: Any
) -> None:
    own = _id_token(rp, patron.card_number)
    fresh = app.test_client()
    done = fresh.get(
        "/logout", query_string={"id_token_hint": own, "post_logout_redirect_uri": BYE}
    )
    assert done.status_code == 302 and done.headers["Location"] == BYE


@pytest.mark.parametrize(
    "query",
    ["endpoint=x", "_external=1&_scheme=javascript", "_anchor=x&_method=GET", "values=1"],
)
def test_parameters_named_like_url_for_arguments_are_just_parameters(
    rp: RelyingParty, patron: Any, query: str
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    page = rp.browser.get("/logout?" + query)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    action = _confirm_action(html)
    assert urlsplit(action).path == "/logout" and urlsplit(action).query == query
    done = rp.browser.post(action, data={"confirm": "1", "csrf_token": csrf_token(html)})
    assert done.status_code == 200
    assert not _signed_in(rp)


def _logout_token(party: RelyingParty) -> str:
    return csrf_token(party.browser.get("/logout").get_data(as_text=True))
