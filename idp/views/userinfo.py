"""UserInfo endpoint (OIDC Core §5.3): the claims the token's scopes allow."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import jsonify

from idp.extensions import csrf_exempt
from idp.services.claims import claims_for
from idp.views.support.bearer import BearerError
from idp.views.support.bearer import require_token

bp = Blueprint("userinfo", __name__)


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf_exempt  # bearer-token endpoint (OIDC Core §5.3.1 allows POST)
def userinfo() -> Any:
    """Return the patron's claims for a valid access token with ``openid``."""
    try:
        token = require_token("openid")
    except BearerError as error:
        return error.response
    patron = token.get_user()
    if patron is None:
        # A client-credentials token has no patron behind it.
        return BearerError(jsonify({"error": "invalid_token"})).response, 401
    response = jsonify(claims_for(patron.as_patron(), token.get_client(), token.scope))
    response.headers["Cache-Control"] = "no-store"
    return response
