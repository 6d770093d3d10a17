"""Discovery (OIDC Discovery 1.0 §3) and the JWKS, served from memory with ETags."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from idp.context import services
from idp.oauth.keys import SIGNING_ALG
from idp.oauth.oidc import SCOPES_SUPPORTED

bp = Blueprint("discovery", __name__)


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The OpenID Provider metadata document."""
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
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": [SIGNING_ALG],
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
            "name",
            "email",
            "email_verified",
            "card_number",
            "card_expires_on",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
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
    issuer = services().config["IDP_ISSUER"]
    body, etag = _cached_json("discovery", lambda: provider_metadata(issuer))
    return _json_document(body, etag, 3600)


@bp.route("/.well-known/oauth-authorization-server")
def oauth_authorization_server() -> Response:
    """RFC 8414 metadata: the same document."""
    return openid_configuration()


@bp.route("/jwks.json")
def jwks() -> Response:
    """The published public signing keys."""
    body, etag = services().keys.jwks_document()
    return _json_document(body, etag, 300)
