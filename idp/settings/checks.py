"""Checks of single values that a type and a range cannot express (URLs, networks, …).

Each returns ``None`` for a good value and otherwise the reason, which the loader
prefixes with the setting's name.
"""

from __future__ import annotations

import codecs
import re
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError


def issuer_url(value: Any) -> str | None:
    """An absolute http(s) URL without query, fragment or trailing slash."""
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.query or parts.fragment or str(value).endswith("/"):
        return "must have no query, fragment or trailing slash"
    return None


def web_url_or_empty(value: Any) -> str | None:
    """Empty, or an absolute http(s) URL."""
    if not value:
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "must be an absolute http(s) URL (or empty)"
    return None


def database_url(value: Any) -> str | None:
    """Unset, or an SQLAlchemy URL (``dialect[+driver]://…``)."""
    if value is None:
        return None
    if not re.match(r"^[a-z][a-z0-9+]*://", str(value)):
        return "must be an SQLAlchemy URL such as postgresql+psycopg://user:pass@host/db"
    return None


def redis_url(value: Any) -> str | None:
    """Unset, or a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    if value is None:
        return None
    if urlsplit(str(value)).scheme not in {"redis", "rediss", "unix"}:
        return "must be a redis://, rediss:// or unix:// URL"
    return None


def smtp_url(value: Any) -> str | None:
    """Unset, or an ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URL with a host."""
    if value is None:
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in {"smtp", "smtp+starttls", "smtps"} or not parts.hostname:
        return "must be smtp://, smtp+starttls:// or smtps:// with a host"
    return None


def regular_expression(value: Any) -> str | None:
    """A regular expression Python can compile."""
    try:
        re.compile(str(value))
    except re.error as exc:
        return f"is not a regular expression: {exc}"
    return None


def time_zone(value: Any) -> str | None:
    """An IANA time zone name."""
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return "must be an IANA time zone such as Asia/Tokyo"
    return None


def secret_or_empty(value: Any) -> str | None:
    """Empty, or at least 32 characters."""
    if value and len(str(value)) < 32:
        return "must be at least 32 characters (or empty)"
    return None


def bind_address(value: Any) -> str | None:
    """``host:port`` with a port number."""
    host, _, port = str(value).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "must be host:port"
    return None


def languages(value: Any) -> str | None:
    """A comma-separated, non-empty list of language codes."""
    codes = list(value)
    if not codes or any(not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", code) for code in codes):
        return "must list language codes such as ja,en"
    return None


def extension_field(value: Any) -> str | None:
    """Empty, or a two-letter SIP2 field code."""
    if value and not re.fullmatch(r"[A-Z][A-Z0-9]", str(value)):
        return "must be a two-letter field code such as PA (or empty)"
    return None


def text_encoding(value: Any) -> str | None:
    """A codec Python knows (e.g. utf-8, shift_jis)."""
    try:
        codecs.lookup(str(value))
    except LookupError:
        return "must name a text encoding such as utf-8"
    return None
