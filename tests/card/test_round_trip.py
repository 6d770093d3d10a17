"""The whole story: the card page's SVG is drawn, read by a barcode reader, and checked
at the desk — valid once, replayed the second time, expired after two steps."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient

from idp.services.cards.barcode import Symbology
from idp.services.cards.barcode import render_svg
from idp.services.cards.barcode import strip_codabar_start_stop
from tests.barcode_image import SVG_NS
from tests.barcode_image import read_svg
from tests.card.conftest import STEP
from tests.card.conftest import post_verify
from tests.rebuild import rebuild_cards
from tests.support.factories import change_settings

FORMATS = {"nw7": zxingcpp.BarcodeFormat.Codabar, "code128": zxingcpp.BarcodeFormat.Code128}


def scan(client: FlaskClient, symbology: str) -> tuple[str, str]:
    """Open the card page, read its barcode; return (what the reader sent, printed digits)."""
    html = client.get("/card").get_data(as_text=True)
    found = re.search(r"<svg\b.*?</svg>", html, re.S)
    assert found is not None
    svg = found.group(0)
    printed = [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]  # noqa: S314
    codes = read_svg(svg)
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
    change_settings(app, IDP_CARD_SYMBOLOGY=symbology)
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
def test_the_printed_digits_drawn_again_scan_to_the_same_digits(
    app: Flask, client: FlaskClient, signed_in: Any, symbology: Symbology
) -> None:
    change_settings(app, IDP_CARD_SYMBOLOGY=symbology)
    rebuild_cards(app)
    _sent, printed = scan(client, symbology)

    codes = read_svg(render_svg(printed, symbology))

    assert [strip_codabar_start_stop(c.text) for c in codes] == [printed]
