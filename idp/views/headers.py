"""Security headers on every response (SPEC §7, RFC 9700 §4.16)."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import current_app

#: No inline script or style anywhere; nothing from other origins.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def add_security_headers(response: Response) -> Response:
    """Set CSP, framing, sniffing, referrer and (behind TLS) HSTS headers."""
    headers = response.headers
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cache-Control", "no-store")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if str(current_app.config["IDP_ISSUER"]).startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    """Install the header hook."""
    app.after_request(add_security_headers)
