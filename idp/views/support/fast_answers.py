"""What the fast path hands back: an answer, a redirect, or "fall through to Flask"."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from idp.views.support.headers import CSP
from idp.views.support.headers import CSP_NONE


class Fallthrough(Exception):
    """Not a common success: the application answers this request."""


class Answer:
    """A JSON answer of the fast path."""

    __slots__ = ("body", "client_id", "endpoint", "headers", "status", "status_code")

    def __init__(self, body: dict[str, Any], endpoint: str, client_id: str | None) -> None:
        self.status = "200 OK"
        self.status_code = 200
        self.body = json.dumps(body).encode()
        self.endpoint = endpoint
        self.client_id = client_id
        self.headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Content-Security-Policy", CSP_NONE),
        ]


class Redirect(Answer):
    """The authorization endpoint's redirect back to the client (headers as the Flask
    view's: an empty text/html answer, so the page policy)."""

    def __init__(self, location: str, endpoint: str, client_id: str) -> None:
        self.status = "302 FOUND"
        self.status_code = 302
        self.body = b""
        self.endpoint = endpoint
        self.client_id = client_id
        self.headers = [
            ("Location", location),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Content-Security-Policy", CSP),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]


class Call:
    """What a handler needs of one request."""

    __slots__ = ("environ", "form", "now", "remote_addr", "user_agent")

    def __init__(self, environ: dict[str, Any], form: dict[str, str], remote_addr: str | None):
        self.environ = environ
        self.form = form
        self.remote_addr = remote_addr
        self.user_agent = str(environ.get("HTTP_USER_AGENT", ""))
        from idp.services.container import container

        self.now = container().now()


def _form(raw: bytes) -> dict[str, str]:
    """An urlencoded body with each parameter once (anything else: the slow path)."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Fallthrough from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise Fallthrough  # a repeated parameter: Authlib refuses it
    return form
