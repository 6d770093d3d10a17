"""The card barcode as a desk scanner sees it: quiet zones, bar height, a coarse capture.

A handheld scanner at arm's length, or a camera, sees fewer pixels than the phone draws:
the bars must decode from a capture at half the phone's resolution, for both symbologies,
at phone and desktop widths.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from idp.services.cards.barcode import render_svg
from idp.services.cards.barcode import strip_codabar_start_stop
from tests.e2e.browser import VIEWPORTS
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

_RECT = re.compile(r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm" height="([\d.]+)mm"')
_VIEWBOX = re.compile(r'viewBox="0 0 ([\d.]+) ([\d.]+)"')
_MM = 96 / 25.4


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_bars_have_quiet_zones_of_ten_modules_and_are_tall(symbology: Any) -> None:
    svg = render_svg("0300000000123456", symbology)
    bars = [(float(x), float(w), float(h)) for x, w, h in _RECT.findall(svg)]
    width_px, _height = (float(v) for v in _VIEWBOX.search(svg).groups())  # type: ignore[union-attr]
    width = width_px / _MM
    module = min(w for _x, w, _h in bars)
    left = bars[0][0]
    right = width - (bars[-1][0] + bars[-1][1])
    assert left >= 10 * module and right >= 10 * module, (left, right, module)
    symbol = bars[-1][0] + bars[-1][1] - left
    # ISO/IEC 15416 practice: bars at least 15 % of the symbol's length, and 10 mm here.
    height = bars[0][2]
    assert height >= max(0.25 * symbol, 10.0), (height, symbol)


@pytest.fixture(params=["nw7", "code128"])
def symbology(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """The card page's symbology (set before the live server starts)."""
    app_config["IDP_CARD_SYMBOLOGY"] = request.param
    return str(request.param)


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_card_barcode_decodes_from_a_half_resolution_capture(
    symbology: str, live_server: LiveServer, viewport: str
) -> None:
    patron = make_patron("0300000002")
    with chromium() as browser:
        # A 2x phone screen, captured at half its resolution (one pixel per CSS pixel).
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP", device_scale_factor=2)
        page.goto(f"{live_server.url}/card")
        page.get_by_label("貸出カード番号").fill(patron.card_number)
        page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="ログイン", exact=True).click()
        page.wait_for_url(f"{live_server.url}/card")
        value = (page.locator("figure.card-barcode").get_attribute("aria-label") or "").split()[-1]
        screenshot(page, f"card-{symbology}-{viewport}")
        full = Image.open(io.BytesIO(page.locator("figure.card-barcode").screenshot()))
    half = full.resize((full.width // 2, full.height // 2), Image.Resampling.BOX)
    codes = zxingcpp.read_barcodes(half)
    assert [strip_codabar_start_stop(c.text) for c in codes] == [value]
    expected = {"nw7": zxingcpp.BarcodeFormat.Codabar, "code128": zxingcpp.BarcodeFormat.Code128}
    assert codes[0].format == expected[symbology]
