"""The printed notice in Chromium's print layout: URLs on one line, inside the page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot

pytestmark = pytest.mark.e2e

#: The printable area of A4 (the notice's @page margins) at 96 CSS pixels per inch.
A4 = {"width": 688, "height": 1032}


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
        # One patron, one A4 sheet.
        pdf = page.pdf(prefer_css_page_size=True)
        height = page.locator("section.page").evaluate("e => e.scrollHeight")
        assert _pages(pdf) == 1, f"the notice is {height * 25.4 / 96:.0f} mm tall"
        page.emulate_media(media="screen")
        screenshot(page, "notice-a4")


def _pages(pdf: bytes) -> int:
    """The number of page objects in a PDF file."""
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
