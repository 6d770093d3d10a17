"""Token, revocation and introspection endpoints (RFC 6749 §3.2, RFC 7009, RFC 7662)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from idp.extensions import csrf_exempt
from idp.services.container import container

bp = Blueprint("token", __name__)


@bp.route("/token", methods=["POST"])
@csrf_exempt  # client-authenticated protocol endpoint, not a browser form
def issue_token() -> Any:
    """Exchange a code or refresh token, or authenticate a machine client."""
    return container().authorization.create_token_response()


@bp.route("/revoke", methods=["POST"])
@csrf_exempt
def revoke_token() -> Any:
    """RFC 7009 token revocation."""
    return container().authorization.create_endpoint_response("revocation")


@bp.route("/introspect", methods=["POST"])
@csrf_exempt
def introspect_token() -> Any:
    """RFC 7662 token introspection, for the client the token was issued to."""
    return container().authorization.create_endpoint_response("introspection")
