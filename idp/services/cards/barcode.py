"""Card barcode images: NW-7 (Codabar) or Code 128 as inline SVG (SPEC §5).

NW-7 needs start/stop characters, so the bars carry ``A<digits>A`` while the printed
text stays the digits. What a reader sends back depends on the reader: zxing-cpp 3
returns the start/stop letters (``A0123456789A``), and desk scanners send them or not
depending on their "transmit start/stop" setting; :func:`strip_codabar_start_stop`
turns either form back into the digits. Code 128 readers return exactly the digits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

if TYPE_CHECKING:
    import xml.dom.minidom

# python-barcode and the XML parser are imported when an image is drawn:
# only the card page needs them, and they weigh about 5 MB per process.

Symbology = Literal["nw7", "code128"]

#: Start and stop character put around NW-7 data (any of A–D is valid; A is the usual one).
CODABAR_START_STOP = "A"

_CLASS_NAMES: dict[Symbology, str] = {"nw7": "nw-7", "code128": "code128"}
_DIGITS = re.compile(r"[0-9]+")
_CODABAR_FRAMED = re.compile(r"[A-Da-d]([0-9]+)[A-Da-d]")
_MM_TO_CSS_PX = 96 / 25.4
#: Drawing sizes in mm (python-barcode's units). The quiet zone is at least 10 narrow
#: elements each side (NW-7's narrow bar is two modules); the bars are about a third as
#: tall as the symbol is long, so a handheld scanner held at arm's length still crosses
#: them, and the page's width makes a narrow bar at least 2 CSS pixels on a phone.
_SIZES: dict[Symbology, dict[str, float]] = {
    "nw7": {"module_width": 0.2, "quiet_zone": 5.0, "module_height": 24.0},
    "code128": {"module_width": 0.2, "quiet_zone": 2.6, "module_height": 15.0},
}


def encoded_data(value: str, symbology: Symbology = "nw7") -> str:
    """Return the characters the bars encode: ``A<value>A`` for NW-7, ``value`` for Code 128.

    :param value: ASCII digits.
    :param symbology: ``"nw7"`` or ``"code128"``.
    :raises ValueError: if ``value`` is not ASCII digits or the symbology is unknown.
    """
    if not _DIGITS.fullmatch(value):
        raise ValueError("barcode value must be ASCII digits")
    if symbology == "nw7":
        return CODABAR_START_STOP + value + CODABAR_START_STOP
    if symbology == "code128":
        return value
    raise ValueError(f"unknown symbology {symbology!r}")


def strip_codabar_start_stop(text: str) -> str:
    """Drop NW-7 start/stop letters from a scan, if present: ``A0123A`` → ``0123``.

    :param text: what the reader returned.
    :return: the digits between the letters, or ``text`` unchanged when it is not framed.
    """
    framed = _CODABAR_FRAMED.fullmatch(text)
    return framed.group(1) if framed else text


def render_svg(value: str, symbology: Symbology = "nw7", *, human_readable: bool = True) -> str:
    """Render an ``<svg>`` element to put inline in HTML.

    It has a ``viewBox`` and ``width="100%"`` with no height, so it fills its container
    on any screen and keeps its proportions; size it with the container's CSS.

    :param value: ASCII digits (card number + code).
    :param symbology: ``"nw7"`` or ``"code128"``.
    :param human_readable: print the digits under the bars.
    :return: the SVG markup, without an XML declaration.
    :raises ValueError: for a value that is not ASCII digits.
    """
    import xml.dom.minidom

    from barcode.writer import SVGWriter

    options = {"with_doctype": False, "compress": True}
    output = _render(value, symbology, SVGWriter(), human_readable, options)
    # Parsing our own python-barcode output, not untrusted input.
    root = xml.dom.minidom.parseString(output).documentElement  # noqa: S318
    if root is None:  # pragma: no cover - python-barcode always writes a root element
        raise RuntimeError("python-barcode wrote an empty SVG document")
    width_mm = float(root.getAttribute("width").removesuffix("mm"))
    height_mm = float(root.getAttribute("height").removesuffix("mm"))
    # Child coordinates are in mm, which SVG maps at 96 user units per inch.
    root.setAttribute(
        "viewBox",
        f"0 0 {width_mm * _MM_TO_CSS_PX:.3f} {height_mm * _MM_TO_CSS_PX:.3f}",
    )
    root.setAttribute("width", "100%")
    root.removeAttribute("height")
    _styles_to_attributes(root)
    return root.toxml()


def _styles_to_attributes(root: xml.dom.minidom.Element) -> None:
    """Turn ``style="fill:black;…"`` into presentation attributes (``fill="black"``).

    The hosted pages' CSP (``style-src 'self'``) blocks inline ``style`` attributes, and
    without them every rectangle, the white background included, would paint black.
    """
    for node in [root, *root.getElementsByTagName("*")]:
        style = node.getAttribute("style")
        if not style:
            continue
        for declaration in style.split(";"):
            name, _, value = declaration.partition(":")
            if name.strip() and value.strip():
                node.setAttribute(name.strip(), value.strip())
        node.removeAttribute("style")


def _render(
    value: str,
    symbology: Symbology,
    writer: Any,
    human_readable: bool,
    options: dict[str, Any],
) -> Any:
    import barcode

    data = encoded_data(value, symbology)
    symbol = barcode.get(_CLASS_NAMES[symbology], data, writer=writer)
    # Without an explicit text python-barcode prints the encoded data, start/stop included.
    text = value if human_readable else None
    return symbol.render({**_SIZES[symbology], **options, "write_text": human_readable}, text=text)
