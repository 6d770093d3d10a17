"""UserInfo endpoint (OIDC Core §5.3): the claims the token's scopes allow."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint
from flask import jsonify

from idp.context import services
from idp.extensions import csrf_exempt
from idp.oauth.oidc import claims_for

bp = Blueprint("userinfo", __name__)


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf_exempt  # bearer-token endpoint (OIDC Core §5.3.1 allows POST)
def userinfo() -> Any:
    """Return the patron's claims for a valid access token with ``openid``."""
    svc = services()
    try:
        token = svc.require_oauth.acquire_token(["openid"])
    except OAuth2Error as error:
        return svc.authorization.handle_response(*error())
    patron = token.get_user()
    if patron is None:
        return jsonify({"error": "invalid_token"}), 401
    response = jsonify(claims_for(patron, token.get_client(), token.scope))
    response.headers["Cache-Control"] = "no-store"
    return response
