"""JSON for the application: a body nested too deeply is bad input, not a server error.

``json.loads`` raises :class:`RecursionError` for a document nested deeper than the
interpreter's recursion limit (a 64 KiB body holds 30,000 levels of ``[``). Werkzeug's
``get_json`` turns a :class:`ValueError` into "bad request" (or None with
``silent=True``) but lets a :class:`RecursionError` through, which became a 500. Here a
body nested deeper than :data:`MAX_DEPTH` is refused as a :class:`ValueError` before it is
parsed; no request to this provider nests more than a few levels.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

#: Deepest nesting of arrays and objects accepted in a request body.
MAX_DEPTH = 32


def nesting_depth(text: str | bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text (outside strings)."""
    data = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else text
    depth = deepest = 0
    in_string = escaped = False
    for char in data:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing request bodies nested deeper than :data:`MAX_DEPTH`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        # Counting the brackets is quick; only a body with many of them is walked.
        brackets = (
            s.count("[") + s.count("{") if isinstance(s, str) else s.count(b"[") + s.count(b"{")
        )
        if brackets > MAX_DEPTH and nesting_depth(s) > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:  # a limit below MAX_DEPTH (never expected)
            raise ValueError("JSON nested too deeply") from exc
