"""The portal's barcode SVG scans: rasterise its bars and read them with zxing-cpp."""

from __future__ import annotations

import xml.dom.minidom

import pytest
import zxingcpp
from PIL import Image
from PIL import ImageDraw

from portal.barcodes import render_svg

#: Pixels per millimetre of the raster (about 250 dpi).
SCALE = 10


def _rasterise(svg: str) -> Image.Image:
    """Draw the SVG's black rectangles (python-barcode writes only those) on white."""
    root = xml.dom.minidom.parseString(svg).documentElement  # noqa: S318 - our own output
    assert root is not None
    rects = [
        node for node in root.getElementsByTagName("rect") if node.getAttribute("fill") == "black"
    ]

    def mm(node: xml.dom.minidom.Element, name: str) -> float:
        return float(node.getAttribute(name).removesuffix("mm"))

    width = max(mm(r, "x") + mm(r, "width") for r in rects) + 10
    height = max(mm(r, "y") + mm(r, "height") for r in rects) + 5
    image = Image.new("L", (int(width * SCALE), int(height * SCALE)), 255)
    draw = ImageDraw.Draw(image)
    for r in rects:
        x, y = mm(r, "x") * SCALE, mm(r, "y") * SCALE
        draw.rectangle(
            (x, y, x + mm(r, "width") * SCALE - 1, y + mm(r, "height") * SCALE - 1), fill=0
        )
    return image


@pytest.mark.parametrize(
    ("symbology", "expected_format"),
    [("nw7", zxingcpp.BarcodeFormat.Codabar), ("code128", zxingcpp.BarcodeFormat.Code128)],
)
def test_the_svg_scans_back_to_the_value(
    symbology: str, expected_format: zxingcpp.BarcodeFormat
) -> None:
    value = "0300000001123456"
    svg = render_svg(value, symbology)
    assert "style=" not in svg  # a strict CSP would drop style attributes
    [found] = zxingcpp.read_barcodes(_rasterise(svg))
    assert found.format == expected_format
    text = found.text.strip("ABCDabcd") if symbology == "nw7" else found.text
    assert text == value


@pytest.mark.parametrize(("value", "symbology"), [("12a4", "nw7"), ("", "nw7"), ("1234", "qr")])
def test_bad_values_are_refused(value: str, symbology: str) -> None:
    with pytest.raises(ValueError, match=r"digits|symbology"):
        render_svg(value, symbology)
