"""Security headers on every response (SPEC §7; RFC 9700 §4.16 clickjacking, §4.2.4
referrer leakage; RFC 6749 §5.1 no caching of token responses).

Hosted pages get a strict CSP (no inline script or style, nothing from other origins,
no framing), every other response a CSP that allows nothing at all. Responses that
carry or depend on secrets — pages, and the token, introspection, revocation, userinfo
and card APIs — are ``no-store``; discovery and JWKS set their own public caching.
HSTS is sent when the request came over TLS (as seen through a trusted proxy) or the
issuer is ``https://``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask import Response
from flask import request

from idp.services.container import container

#: No inline script or style anywhere; nothing from other origins; never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: For JSON and everything that is not a page: nothing may load, nothing may frame it.
CSP_NONE = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
#: JSON endpoints whose answers carry tokens or personal data: never cached.
NO_STORE_PREFIXES = ("/token", "/revoke", "/introspect", "/userinfo", "/api/")
HSTS = "max-age=31536000; includeSubDomains"


def environ_is_tls(environ: Mapping[str, Any], issuer_is_https: bool, trust_proxy: bool) -> bool:
    """:func:`is_tls` for the WSGI fast paths, which answer before Flask makes a request:
    ``X-Forwarded-Proto`` counts only behind a trusted proxy, and as ProxyFix(x_proto=1)
    reads it (the value the nearest proxy appended)."""
    if issuer_is_https or environ.get("wsgi.url_scheme") == "https":
        return True
    if trust_proxy:
        forwarded = str(environ.get("HTTP_X_FORWARDED_PROTO", ""))
        return forwarded.split(",")[-1].strip().lower() == "https"
    return False


def is_tls() -> bool:
    """True when this request arrived over TLS, or the provider is only served so.

    ``request.is_secure`` honours ``X-Forwarded-Proto`` only when ``IDP_TRUST_PROXY`` is
    set (ProxyFix in :func:`idp.create_app`); an ``https://`` issuer means the browser
    only ever talks TLS to us, whatever a misconfigured proxy reports.
    """
    return request.is_secure or container().settings.site.issuer.startswith("https://")


def add_security_headers(response: Response) -> Response:
    """Set CSP, framing, sniffing, referrer, caching and (behind TLS) HSTS headers."""
    headers = response.headers
    # One pass over the headers already set (a view may set its own), instead of a scan
    # per header: this runs on every response.
    present = {name.lower() for name in headers.keys()}  # noqa: SIM118 - Headers is a multidict
    is_page = response.mimetype == "text/html"
    wanted = [
        ("Content-Security-Policy", CSP if is_page else CSP_NONE),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if is_page:
        wanted.append(("Cross-Origin-Opener-Policy", "same-origin"))
    if is_page or request.path.startswith(NO_STORE_PREFIXES):
        wanted += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    if is_tls():
        wanted.append(("Strict-Transport-Security", HSTS))
    for name, value in wanted:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    """Install the header hook."""
    app.after_request(add_security_headers)
