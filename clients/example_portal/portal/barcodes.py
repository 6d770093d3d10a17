"""Draw the card barcode as inline SVG with python-barcode (NW-7/Codabar or Code 128)."""

from __future__ import annotations

import re
import xml.dom.minidom
from typing import Any

import barcode
from barcode.writer import SVGWriter

#: The claim's ``symbology`` → python-barcode's name for it.
SYMBOLOGIES = {"nw7": "nw-7", "code128": "code128"}
_DIGITS = re.compile(r"[0-9]{1,64}")
_MM_TO_PX = 96 / 25.4


def render_svg(value: str, symbology: str) -> str:
    """An ``<svg>`` element showing ``value`` in ``symbology`` (bars only: the page prints
    the digits itself, larger and readable by screen readers).

    NW-7 needs start/stop characters: the bars carry ``A<digits>A`` (the usual choice of
    Japanese library cards), the printed text stays the digits.

    The SVG uses presentation attributes (``fill="black"``) instead of python-barcode's
    ``style="…"`` attributes: a strict Content-Security-Policy (no ``'unsafe-inline'``
    styles) ignores style attributes, and the white background would turn black.

    :raises ValueError: for a value that is not digits or an unknown symbology.
    """
    if not _DIGITS.fullmatch(value):
        raise ValueError("barcode value must be ASCII digits")
    if symbology not in SYMBOLOGIES:
        raise ValueError(f"unknown symbology {symbology!r}")
    data = f"A{value}A" if symbology == "nw7" else value
    symbol = barcode.get(SYMBOLOGIES[symbology], data, writer=SVGWriter())
    output: Any = symbol.render({"with_doctype": False, "compress": True, "write_text": False})
    # Parsing python-barcode's own output, not untrusted input.
    root = xml.dom.minidom.parseString(output).documentElement  # noqa: S318
    if root is None:  # pragma: no cover - python-barcode always writes a root element
        raise RuntimeError("python-barcode wrote an empty SVG document")
    width = float(root.getAttribute("width").removesuffix("mm")) * _MM_TO_PX
    height = float(root.getAttribute("height").removesuffix("mm")) * _MM_TO_PX
    root.setAttribute("viewBox", f"0 0 {width:.3f} {height:.3f}")
    root.setAttribute("width", "100%")
    root.removeAttribute("height")
    root.setAttribute("role", "img")
    root.setAttribute("aria-label", value)
    for node in root.getElementsByTagName("*"):
        _styles_to_attributes(node)
    return root.toxml()


def _styles_to_attributes(node: Any) -> None:
    style = node.getAttribute("style")
    if not style:
        return
    for declaration in style.split(";"):
        name, _, value = declaration.partition(":")
        if name.strip() and value.strip():
            node.setAttribute(name.strip(), value.strip())
    node.removeAttribute("style")
