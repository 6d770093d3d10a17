"""The whole story: the card page's SVG is drawn, read by a barcode reader, and checked
at the desk — valid once, replayed the second time, expired after two steps."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from PIL import ImageDraw

from idp.services.barcode import Symbology
from idp.services.barcode import render_png
from idp.services.barcode import strip_codabar_start_stop
from tests.card.conftest import STEP
from tests.card.conftest import post_verify
from tests.rebuild import rebuild_cards

SVG_NS = "{http://www.w3.org/2000/svg}"
PX_PER_MM = 16
FORMATS = {"nw7": zxingcpp.BarcodeFormat.Codabar, "code128": zxingcpp.BarcodeFormat.Code128}


def _mm(value: str) -> float:
    return float(value.removesuffix("mm"))


def rasterize(svg: str) -> Image.Image:
    """Draw the SVG's bars as the browser would: black rectangles on white.

    Only what python-barcode writes is understood (``<rect>`` in mm, one background);
    every bar is drawn from the served markup, so a wrong bar would not scan.
    """
    root = ET.fromstring(svg)  # noqa: S314 - the provider's own page in a test
    bars = [
        r
        for r in root.iter(f"{SVG_NS}rect")
        if r.get("x") is not None and r.get("fill", "black") == "black"
    ]
    assert bars, "no bars in the SVG"
    right = max(_mm(r.get("x", "0")) + _mm(r.get("width", "0")) for r in bars)
    bottom = max(_mm(r.get("y", "0")) + _mm(r.get("height", "0")) for r in bars)
    # A quiet zone the size of python-barcode's left margin on the right too.
    image = Image.new("L", (round((right + 6.5) * PX_PER_MM), round((bottom + 2) * PX_PER_MM)), 255)
    draw = ImageDraw.Draw(image)
    for r in bars:
        x, y = _mm(r.get("x", "0")), _mm(r.get("y", "0"))
        w, h = _mm(r.get("width", "0")), _mm(r.get("height", "0"))
        draw.rectangle(
            [
                round(x * PX_PER_MM),
                round(y * PX_PER_MM),
                round((x + w) * PX_PER_MM) - 1,
                round((y + h) * PX_PER_MM) - 1,
            ],
            fill=0,
        )
    return image


def scan(client: FlaskClient, symbology: str) -> tuple[str, str]:
    """Open the card page, read its barcode; return (what the reader sent, printed digits)."""
    html = client.get("/card").get_data(as_text=True)
    found = re.search(r"<svg\b.*?</svg>", html, re.S)
    assert found is not None
    svg = found.group(0)
    printed = [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]  # noqa: S314
    codes = zxingcpp.read_barcodes(rasterize(svg))
    assert [c.format for c in codes] == [FORMATS[symbology]]
    return codes[0].text, printed[0]


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_scanned_code_is_valid_once_replayed_then_expired(
    app: Flask,
    client: FlaskClient,
    signed_in: Any,
    desk_token: str,
    aligned: Any,
    symbology: str,
) -> None:
    app.config["IDP_CARD_SYMBOLOGY"] = symbology
    rebuild_cards(app)
    sent, printed = scan(client, symbology)
    if symbology == "nw7":
        assert sent == f"A{printed}A"  # the reader sends the start/stop letters
    else:
        assert sent == printed

    first = post_verify(client, desk_token, sent).get_json()
    second = post_verify(client, desk_token, sent).get_json()

    assert first == {
        "valid": True,
        "card_number": signed_in.card_number,
        "status": "active",
        "expires_on": "2099-12-31",
    }
    assert second == {"valid": False, "reason": "replayed"}

    # A screenshot of the next code, scanned two steps later, no longer works.
    aligned.advance(seconds=STEP)
    screenshot, _printed = scan(client, symbology)
    assert screenshot != sent
    aligned.advance(seconds=2 * STEP)
    late = post_verify(client, desk_token, screenshot).get_json()
    assert late == {"valid": False, "reason": "expired_code"}


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_png_of_the_page_value_scans_to_the_same_digits(
    app: Flask, client: FlaskClient, signed_in: Any, symbology: Symbology
) -> None:
    app.config["IDP_CARD_SYMBOLOGY"] = symbology
    rebuild_cards(app)
    _sent, printed = scan(client, symbology)

    with Image.open(io.BytesIO(render_png(printed, symbology))) as image:
        codes = zxingcpp.read_barcodes(image)

    assert [strip_codabar_start_stop(c.text) for c in codes] == [printed]
