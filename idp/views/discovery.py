"""Discovery (OIDC Discovery 1.0 §3) and the JWKS, served from memory with ETags."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import request

from idp.services.claims import SCOPES_SUPPORTED
from idp.services.container import container
from idp.services.keys import ID_TOKEN_ALGS
from idp.settings import app_settings
from idp.views.support.headers import CSP_NONE
from idp.views.support.headers import HSTS
from idp.views.support.headers import environ_is_tls

bp = Blueprint("discovery", __name__)


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The OpenID Provider metadata document."""
    # Long on purpose: one declarative document (OpenID Connect Discovery §3), read top
    # to bottom like the JSON it becomes.
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "end_session_endpoint": f"{issuer}/logout",
        # OpenID Connect Back-Channel Logout 1.0 §2.1; logout tokens carry ``sid``.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        # RFC 8628 §4: the device asks here for a code pair; the patron approves on /device.
        "device_authorization_endpoint": f"{issuer}/device_authorization",
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "at_hash",
            "amr",
            "acr",
            "name",
            "email",
            "email_verified",
            "card_number",
            "card_expires_on",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        # A passkey sign-in is phishing-resistant (``phr``), hardware-bound ``phrh``.
        "acr_values_supported": ["phr", "phrh"],
        "ui_locales_supported": ["ja", "en"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        # Signed barcode claim of the patron's library card (README "Library card barcode").
        "library_card_barcode_endpoint": f"{issuer}/api/card/barcode",
    }


def _cached_json(key: str, build: Any) -> tuple[bytes, str]:
    cache: dict[str, tuple[bytes, str]] = current_app.extensions.setdefault("idp_static", {})
    if key not in cache:
        body = json.dumps(build(), separators=(",", ":")).encode()
        cache[key] = (body, hashlib.sha256(body).hexdigest()[:32])
    return cache[key]


def _json_document(body: bytes, etag: str, max_age: int) -> Response:
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """The provider metadata."""
    issuer = container().settings.site.issuer
    body, etag = _cached_json("discovery", lambda: provider_metadata(issuer))
    return _json_document(body, etag, 3600)


@bp.route("/.well-known/oauth-authorization-server")
def oauth_authorization_server() -> Response:
    """RFC 8414 metadata: the same document."""
    return openid_configuration()


@bp.route("/jwks.json")
def jwks() -> Response:
    """The published public signing keys."""
    body, etag = container().keys.jwks_document()
    return _json_document(body, etag, 300)


#: The paths the WSGI fast path answers (GET and HEAD only).
_FAST_PATHS = {
    "/.well-known/openid-configuration": ("discovery", 3600),
    "/.well-known/oauth-authorization-server": ("discovery", 3600),
    "/jwks.json": ("jwks", 300),
}


class StaticDocuments:
    """WSGI fast path for discovery and the JWKS: precomputed bytes, no Flask dispatch.

    Both documents are public and the same for every request, so they are answered
    before the request reaches Flask (no context, session, CSRF or locale work), with the
    same headers as the Flask views (ETag and ``If-None-Match`` → 304, public caching,
    CORS, and the security headers of :mod:`idp.views.support.headers`). The discovery bytes are
    built once per process; the JWKS bytes come from :class:`idp.services.keys.KeyStore`,
    which reloads them within a second of a key rotation. Any other method or path goes
    to the application unchanged.
    """

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        issuer = app_settings(app).site.issuer
        self.issuer_is_https = issuer.startswith("https://")
        self.trust_proxy = app_settings(app).site.trust_proxy
        body = json.dumps(provider_metadata(issuer), separators=(",", ":")).encode()
        self.discovery = (body, hashlib.sha256(body).hexdigest()[:32])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = _FAST_PATHS.get(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD")
        if target is None or method not in ("GET", "HEAD") or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        kind, max_age = target
        if kind == "discovery":
            body, etag = self.discovery
        else:
            body, etag = self.app.extensions["idp"].keys.jwks_document()
        quoted = f'"{etag}"'
        headers = [
            ("ETag", quoted),
            ("Cache-Control", f"public, max-age={max_age}"),
            ("Access-Control-Allow-Origin", "*"),
            ("Content-Security-Policy", CSP_NONE),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
        if self._is_tls(environ):
            headers.append(("Strict-Transport-Security", HSTS))
        if _etag_matches(environ.get("HTTP_IF_NONE_MATCH"), etag):
            start_response("304 NOT MODIFIED", headers)
            return [b""]
        headers.append(("Content-Type", "application/json"))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [b""] if method == "HEAD" else [body]

    def _is_tls(self, environ: dict[str, Any]) -> bool:
        return environ_is_tls(environ, self.issuer_is_https, self.trust_proxy)


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison of ``If-None-Match`` against our ETag."""
    if not header:
        return False
    for item in header.split(","):
        value = item.strip()
        if value == "*":
            return True
        if value.startswith("W/"):
            value = value[2:]
        if value.strip('"') == etag and value.startswith('"'):
            return True
    return False


def init_app(app: Flask) -> None:
    """Answer discovery and the JWKS on the WSGI fast path (see :class:`StaticDocuments`)."""
    app.wsgi_app = StaticDocuments(app, app.wsgi_app)  # type: ignore[method-assign]
