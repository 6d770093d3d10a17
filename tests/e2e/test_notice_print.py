"""The printed notice in Chromium's print layout: URLs on one line, inside the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot

pytestmark = pytest.mark.e2e

#: A4 at 96 CSS pixels per inch.
A4 = {"width": 794, "height": 1123}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # A long, real-looking portal address: the kind a word-break rule would split.
    long_url = "https://www.city-library.example.jp/mylibrary/account/overview"
    return {**app_config, "IDP_MYLIBRARY_URL": long_url}


def test_notice_urls_stay_whole_and_on_the_page(runner: FlaskCliRunner, tmp_path: Path) -> None:
    notice = tmp_path / "notice.html"
    args = ["patrons", "issue", "--card", "0300000003", "--expires", "2028-11-30"]
    result = runner.invoke(args=[*args, "--name", "図書 太郎", "--notice", str(notice)])
    assert result.exit_code == 0, result.output
    with chromium() as browser:
        page = browser.new_page(viewport=A4)
        page.emulate_media(media="print")
        page.goto(notice.as_uri())
        section = page.locator("section.page").bounding_box()
        assert section is not None
        urls = page.locator(".url").all()
        assert len(urls) >= 3
        for url in urls:
            box = url.bounding_box()
            assert box is not None
            rects = url.evaluate("e => e.getClientRects().length")
            assert rects == 1, url.inner_text()  # one line box: not broken
            assert box["x"] + box["width"] <= section["x"] + section["width"], url.inner_text()
        assert page.locator("figure.qr svg").is_visible()
        page.emulate_media(media="screen")
        screenshot(page, "notice-a4")
