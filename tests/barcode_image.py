"""The card barcode SVG drawn as pixels, so that a barcode reader can read what we serve."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import zxingcpp
from PIL import Image
from PIL import ImageDraw

SVG_NS = "{http://www.w3.org/2000/svg}"
PX_PER_MM = 16


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


def read_svg(svg: str) -> list[zxingcpp.Barcode]:
    """The barcodes a reader finds in the drawn SVG."""
    return list(zxingcpp.read_barcodes(rasterize(svg)))
