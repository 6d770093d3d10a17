"""Card barcode images (the SVG the card page serves), decoded back with the zxing-cpp reader."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import zxingcpp

from idp.services.cards.barcode import Symbology
from idp.services.cards.barcode import encoded_data
from idp.services.cards.barcode import render_svg
from idp.services.cards.barcode import strip_codabar_start_stop
from idp.services.cards.codes import CardCodeSettings
from idp.services.cards.codes import ScanResult
from idp.services.cards.codes import current_code
from idp.services.cards.codes import verify_scan
from tests.barcode_image import read_svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_010

# Even and odd lengths: Code 128 packs digit pairs, so an odd tail takes another path.
VALUES = ["0300012345312472", "030001234312472", "1234567"]


class FirstClaim:
    """A replay memory that has seen nothing yet (each test scans once)."""

    def claim(self, key: str, ttl_seconds: int) -> bool:
        return True


def decode(svg: str) -> list[zxingcpp.Barcode]:
    return read_svg(svg)


def parse_svg(svg: str) -> ET.Element:
    # Parsing our own renderer's output in a test, not untrusted input.
    return ET.fromstring(svg)  # noqa: S314


@pytest.mark.parametrize("value", VALUES)
def test_nw7_svg_decodes_with_start_and_stop_letters(value: str) -> None:
    found = decode(render_svg(value, "nw7"))

    assert [(b.format, b.text) for b in found] == [(zxingcpp.BarcodeFormat.Codabar, f"A{value}A")]
    assert strip_codabar_start_stop(found[0].text) == value


@pytest.mark.parametrize("value", VALUES)
def test_code128_svg_decodes_to_the_exact_digits(value: str) -> None:
    found = decode(render_svg(value, "code128"))

    assert [(b.format, b.text) for b in found] == [(zxingcpp.BarcodeFormat.Code128, value)]


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_svg_without_text_still_decodes(symbology: Symbology) -> None:
    found = decode(render_svg(VALUES[0], symbology, human_readable=False))

    assert [strip_codabar_start_stop(b.text) for b in found] == [VALUES[0]]


def test_svg_is_nw7_by_default() -> None:
    found = decode(render_svg(VALUES[0]))

    assert [b.format for b in found] == [zxingcpp.BarcodeFormat.Codabar]


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_rendered_card_code_scans_and_verifies(symbology: Symbology) -> None:
    settings = CardCodeSettings(secret=b"card-code test secret, 32 bytes!")
    issued = current_code(settings, "0300012345", T0)
    found = decode(render_svg(issued.value, symbology))
    scanned = strip_codabar_start_stop(found[0].text)

    result = verify_scan(settings, scanned, T0 + 5, replay=FirstClaim())

    assert result == ScanResult("0300012345", "ok")


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_svg_is_an_inline_svg_element_that_scales(symbology: Symbology) -> None:
    svg = render_svg(VALUES[0], symbology)
    root = parse_svg(svg)

    assert svg.startswith("<svg ")
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "100%"
    assert root.get("height") is None
    x, y, width, height = (float(n) for n in root.get("viewBox", "").split())
    assert (x, y) == (0, 0)
    assert width > height > 0


@pytest.mark.parametrize("symbology", ["nw7", "code128"])
def test_svg_prints_the_digits_without_start_stop_letters(symbology: Symbology) -> None:
    root = parse_svg(render_svg(VALUES[0], symbology))

    assert [t.text for t in root.iter(f"{SVG}text")] == [VALUES[0]]


def test_svg_without_human_readable_text_has_no_text() -> None:
    root = parse_svg(render_svg(VALUES[0], human_readable=False))

    assert list(root.iter(f"{SVG}text")) == []
    assert len(list(root.iter(f"{SVG}rect"))) > 20


def test_nw7_svg_draws_more_bars_than_code128_for_the_same_digits() -> None:
    nw7 = parse_svg(render_svg(VALUES[0], "nw7"))
    code128 = parse_svg(render_svg(VALUES[0], "code128"))

    assert len(list(nw7.iter(f"{SVG}rect"))) > len(list(code128.iter(f"{SVG}rect")))


def test_encoded_data_frames_nw7_with_a() -> None:
    assert encoded_data("0123", "nw7") == "A0123A"
    assert encoded_data("0123", "code128") == "0123"


@pytest.mark.parametrize("value", ["", "12a4", "０１２３", "12-34", "A123A"])
def test_rendering_refuses_values_that_are_not_ascii_digits(value: str) -> None:
    with pytest.raises(ValueError, match="must be ASCII digits"):
        render_svg(value)
    with pytest.raises(ValueError, match="must be ASCII digits"):
        render_svg(value, "code128")


def test_rendering_refuses_an_unknown_symbology() -> None:
    with pytest.raises(ValueError, match="unknown symbology 'qr'"):
        encoded_data("0123", "qr")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scanned", "payload"),
    [
        ("A0123A", "0123"),
        ("B0123D", "0123"),  # any start/stop pair a scanner may send
        ("a0123a", "0123"),  # some scanners send them in lower case
        ("0123", "0123"),  # scanner set not to transmit start/stop
        ("A0123", "A0123"),  # half a frame is left for the verifier to refuse
        ("AA", "AA"),
        ("E0123E", "E0123E"),
    ],
)
def test_strip_codabar_start_stop(scanned: str, payload: str) -> None:
    assert strip_codabar_start_stop(scanned) == payload
