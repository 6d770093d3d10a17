"""Where to go after login: only a path on this site, as the browser will read it.

``next`` comes from the query string, so it is attacker-controlled. A browser parses a
``Location`` header by the WHATWG URL rules: it drops tabs and line breaks anywhere,
strips control characters and spaces at the ends and reads ``\\`` as ``/``. So
``/\\t/evil.example`` becomes ``//evil.example``, another site. A target is accepted only
when it has none of those characters and is, as it stands, an absolute path on this
origin (``/…``, not ``//…``); anything else is dropped, never repaired.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: Longest ``next`` kept (a path on this site is short; a long one is dropped).
MAX_NEXT = 512


def _is_plain(target: str) -> bool:
    # C0 controls (tab, CR, LF among them), DEL and the C1 range, and the backslash.
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c == "\\" for c in target)


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a same-origin path a browser reads unchanged, else None."""
    if not target or len(target) > MAX_NEXT or not _is_plain(target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        return None
    return target
