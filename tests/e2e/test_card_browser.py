"""The card page in headless Chromium: strict CSP, the script's refresh, a real scan."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from idp.services.cards.barcode import strip_codabar_start_stop
from tests.e2e.browser import VIEWPORTS
from tests.e2e.browser import accessibility_violations
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

STEP = 30


def _printed(page: Any) -> str:
    return str(page.locator("#card-bars text").text_content())


def _note(problems: list[str], message: Any) -> None:
    # The browser's own favicon request (there is none) is not the page's problem.
    if message.type == "error" and "favicon" not in message.location.get("url", ""):
        problems.append(message.text)


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_card_page_refreshes_by_itself_and_scans(
    live_server: LiveServer, clock: Any, viewport: str, tmp_path: Any
) -> None:
    patron = make_patron("0300000001")
    # 28 seconds into a step: the page's countdown starts at 2.
    start = (int(clock.now.timestamp()) // STEP) * STEP + 28
    clock.now = dt.datetime.fromtimestamp(start, dt.UTC)
    problems: list[str] = []

    with chromium() as browser:
        # Phones draw at 2-3 device pixels per CSS pixel; a scanner reads that screen.
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP", device_scale_factor=3)
        page.on("console", lambda m: _note(problems, m))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{live_server.url}/card")
        page.get_by_label("貸出カード番号").fill(patron.card_number)
        page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="ログイン", exact=True).click()
        page.wait_for_url(f"{live_server.url}/card")
        first = _printed(page)
        assert first.startswith(patron.card_number)
        assert "画面の明るさを上げてください" in page.content()

        # What the phone shows, as a desk scanner sees it.
        shot = tmp_path / "bars.png"
        page.locator("#card-bars svg").screenshot(path=str(shot))
        with Image.open(shot) as image:
            codes = zxingcpp.read_barcodes(image)
        assert [strip_codabar_start_stop(c.text) for c in codes] == [first]

        screenshot(page, f"card-{viewport}")
        violations = accessibility_violations(page)
        assert not violations, [(v["id"], v["help"], len(v["nodes"])) for v in violations]

        clock.advance(seconds=2)  # the server's step changes; the script fetches the next code
        # (Not wait_for_function: the page's CSP forbids evaluating strings.)
        expect(page.locator("#card-bars text")).not_to_have_text(first, timeout=15000)
        second = _printed(page)
        assert second.startswith(patron.card_number) and second != first
        assert int(page.locator("#card-seconds").text_content() or "0") > 20
    # No CSP violation (inline style or script) and no script error.
    assert problems == []
