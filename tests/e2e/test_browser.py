"""The patron's journey in a real browser (headless Chromium), on phone and desktop sizes.

Every screen is screenshotted into tests/artifacts/ and checked with axe-core for WCAG 2
A/AA problems (form labels, the page language, colour contrast, …).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page
from playwright.sync_api import Route

from idp.services.cards.barcode import strip_codabar_start_stop
from tests.conftest import Clock
from tests.e2e.browser import VIEWPORTS
from tests.e2e.browser import accessibility_violations
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

VENDOR_CALLBACK = "https://d-library.example.jp/callback"


def _check(page: Page, name: str) -> None:
    screenshot(page, name)
    violations = accessibility_violations(page)
    assert not violations, [(v["id"], v["help"], len(v["nodes"])) for v in violations]
    assert page.locator("html").get_attribute("lang") in {"ja", "en"}


def _authorize_url(server: LiveServer, client_id: str, redirect_uri: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid library_card",
        "state": "s-" + secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    return f"{server.url}/authorize?{urlencode(params)}"


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_login_page_is_accessible_in_both_languages(live_server: LiveServer, viewport: str) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP")
        page.goto(f"{live_server.url}/login")
        assert page.get_by_label("貸出カード番号").is_visible()
        _check(page, f"login-ja-{viewport}")
        page.get_by_role("link", name="English").click()
        assert page.get_by_label("Library card number").is_visible()
        _check(page, f"login-en-{viewport}")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_e_library_refuses_the_temporary_password(live_server: LiveServer, viewport: str) -> None:
    make_patron("0300000000", password="12345678", temporary=True)
    make_client(
        "d-library",
        redirect_uris=[VENDOR_CALLBACK],
        first_party=False,
        policy="deny",
        subject_type="pairwise",
        scopes=["openid", "library_card"],
    )
    reached: list[str] = []

    def vendor(route: Route) -> None:
        reached.append(route.request.url)
        route.fulfill(status=200, body="vendor")

    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP")
        page.route(f"{VENDOR_CALLBACK}**", vendor)
        page.goto(_authorize_url(live_server, "d-library", VENDOR_CALLBACK))
        page.get_by_label("貸出カード番号").fill("０３００ ０００ ０００")
        page.get_by_label("パスワード").fill("12345678")
        page.get_by_role("button", name="ログイン", exact=True).click()
        alert = page.get_by_role("alert")
        assert "仮パスワードではログインできません。" in alert.inner_text()
        assert "Myライブラリで仮パスワードを変更してからご利用ください。" in alert.inner_text()
        _check(page, f"e-library-refusal-{viewport}")
    assert not [url for url in reached if "code=" in url]


def _query(url: str) -> dict[str, Any]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def short_card_step(app_config: dict[str, Any]) -> int:
    """A 5-second card code step, so that the browser sees the barcode change quickly."""
    app_config["IDP_CARD_CODE_STEP"] = 5
    return 5


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_seed_journey_in_a_browser(
    short_card_step: int, live_server: LiveServer, clock: Clock, viewport: str
) -> None:
    """Account page → temporary password → forced change → log in again → e-mail → card.

    The card page's own script fetches the next barcode when the step ends; the test
    moves the provider's clock one step on meanwhile and waits for the bars to change.
    """
    make_patron("0300000000", password="12345678", temporary=True)
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP", device_scale_factor=2)
        page.goto(f"{live_server.url}/account")
        _check(page, f"journey-login-{viewport}")
        page.get_by_label("貸出カード番号").fill("0300000000")
        page.get_by_label("パスワード").fill("12345678")
        page.get_by_role("button", name="ログイン", exact=True).click()

        page.wait_for_url("**/password/change")
        _check(page, f"journey-forced-change-{viewport}")
        page.get_by_label("仮パスワード").fill("12345678")
        page.get_by_label("新パスワード", exact=True).fill("hon2468")
        page.get_by_label("新パスワード(確認用)").fill("hon2468")
        page.get_by_role("button", name="更新").click()

        notice = "パスワードの変更を受け付けました。新パスワードにて改めてログインしてください。"
        assert notice in page.content()
        _check(page, f"journey-changed-{viewport}")
        page.get_by_label("貸出カード番号").fill("0300000000")
        page.get_by_label("パスワード").fill("hon2468")
        page.get_by_role("button", name="ログイン", exact=True).click()

        page.wait_for_url("**/account")
        _check(page, f"journey-account-{viewport}")
        page.get_by_label("E-mail1").fill("hanako@example.jp")
        page.get_by_role("button", name="更新").click()
        page.wait_for_url("**/account")
        assert page.get_by_label("E-mail1").input_value() == "hanako@example.jp"
        _check(page, f"journey-account-saved-{viewport}")

        page.get_by_role("link", name="貸出カード").first.click()
        page.wait_for_url("**/card")
        figure = page.locator("figure.card-barcode")
        first = figure.get_attribute("aria-label") or ""
        assert re.search(r"0300000000\d{6}$", first)
        assert "画面の明るさ" in page.content()
        _check(page, f"journey-card-{viewport}")
        clock.advance(seconds=short_card_step)
        page.wait_for_function(
            "label => document.querySelector('figure.card-barcode')"
            ".getAttribute('aria-label') !== label",
            arg=first,
            timeout=(short_card_step + 5) * 1000,
        )
        second = figure.get_attribute("aria-label") or ""
        assert re.search(r"0300000000\d{6}$", second) and second != first
        assert page.locator("#card-bars svg").count() == 1
        # What a desk scanner sees: the bars as Chromium drew them on a (2x) screen.
        shot = Image.open(io.BytesIO(figure.screenshot()))
        [read] = zxingcpp.read_barcodes(shot)
        assert read.format == zxingcpp.BarcodeFormat.Codabar
        assert strip_codabar_start_stop(read.text) == second.split()[-1]
        _check(page, f"journey-card-next-{viewport}")
