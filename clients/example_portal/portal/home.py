"""The start page: who is signed in, links to the card and to log out."""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import OAuthError
from flask import Blueprint
from flask import render_template
from flask import request

from portal.auth import current_sign_in
from portal.context import portal

bp = Blueprint("home", __name__)


@bp.route("/")
def index() -> Any:
    """Start page; also where the IdP returns after logout (with ``state``)."""
    signed_out = False
    if "state" in request.args:
        try:
            portal().library.validate_logout_response()
            signed_out = True
        except OAuthError:
            signed_out = False
    return render_template("index.html", sign_in=current_sign_in(), signed_out=signed_out)
