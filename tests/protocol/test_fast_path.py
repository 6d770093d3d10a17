"""The WSGI fast path answers the common successes of /token, /userinfo and
/introspect; anything else reaches Flask and Authlib with the request intact.

Every other test of this folder runs with and without the fast path (conftest), so the
answers are the same either way; these tests show which path answered.
"""

from __future__ import annotations

import base64
from typing import Any

from werkzeug.test import TestResponse

from idp.views.fast import fast_path_of
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD


class Watch:
    """Tells whether the last request was answered by the fast path."""

    def __init__(self, browser: Any) -> None:
        path = fast_path_of(browser.application)
        assert path is not None
        self.path = path
        self.seen = path.answered

    def __call__(self, response: TestResponse) -> bool:
        answered = self.path.answered > self.seen
        self.seen = self.path.answered
        return answered


def _basic() -> dict[str, str]:
    raw = f"portal:{PORTAL_SECRET}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_the_common_successes_take_the_fast_path_when_it_is_on(
    rp: Any, patron: Any, token_path: str
) -> None:
    on = token_path == "fast_path"
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    _fast = Watch(rp.browser)
    exchange = rp.exchange(code)
    assert exchange.status_code == 200 and _fast(exchange) is on
    tokens = exchange.get_json()
    rp.verify_id_token(tokens["id_token"], rp.browser.application.config["IDP_ISSUER"])

    userinfo = rp.browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200 and _fast(userinfo) is on
    assert userinfo.headers["Cache-Control"] == "no-store"
    assert userinfo.headers["X-Request-ID"]

    introspection = rp.browser.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
    )
    assert introspection.get_json()["active"] is True and _fast(introspection) is on

    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200 and _fast(refreshed) is on
    assert refreshed.get_json()["refresh_token"] != tokens["refresh_token"]


def test_errors_and_unusual_requests_reach_authlib(rp: Any, patron: Any, token_path: str) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    _fast = Watch(rp.browser)
    wrong = rp.exchange(code, code_verifier="x" * 43)
    assert wrong.get_json()["error"] == "invalid_grant" and not _fast(wrong)
    tokens = rp.exchange(code).get_json()  # the failed attempt did not spend the code
    _fast(rp.browser)

    narrower = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid"}
    )
    assert narrower.status_code == 200 and not _fast(narrower)  # body handed on intact

    bad_secret = rp.refresh(tokens["refresh_token"] + "x")
    assert bad_secret.get_json()["error"] == "invalid_grant" and not _fast(bad_secret)

    no_token = rp.browser.get("/userinfo")
    assert no_token.status_code == 401 and not _fast(no_token)
