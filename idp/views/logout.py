"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the logout button."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from flask import Blueprint
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import gettext as _

from idp.extensions import csrf
from idp.extensions import csrf_exempt
from idp.services.container import container
from idp.services.logout import hint_names_session
from idp.views.support.errors import error_page
from idp.views.support.forms import DecisionForm

bp = Blueprint("logout", __name__)


@bp.route("/logout", methods=["GET", "POST"])
@csrf_exempt  # RPs send GET/POST here; the confirmation form is checked below
def logout() -> Any:
    """End the browser's session; redirect only to a registered post-logout URI."""
    server = container().authorization
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        # RP-Initiated Logout §4: on errors the OP MUST NOT redirect.
        return error_page(400, _("This logout request cannot be processed."), error.error)
    hinted = hint_names_session(session, end_request.id_token_claims, end_request.client)
    if end_request.needs_confirmation or not hinted:
        # §6: without a valid id_token_hint for this very sign-in, ask the patron first
        # (logout CSRF: any site can send a browser here with any ID token it holds).
        form = DecisionForm()
        if not (request.method == "POST" and "confirm" in request.form):
            return render_template(
                "logout/confirm.html", form=form, client=end_request.client, action=_same_request()
            )
        csrf.protect()
    response = server.create_endpoint_response("end_session", end_request)
    if response is not None:
        return response
    return render_template("logout/done.html")


def _same_request() -> str:
    """This endpoint with the request's own query, for the confirmation form to post to.

    Built with ``urlencode``, not ``url_for(**args)``: a parameter named like one of
    ``url_for``'s own arguments (``endpoint``, ``_external`` …) is just a parameter.
    """
    query = urlencode(list(request.args.items(multi=True)))
    return url_for("logout.logout") + ("?" + query if query else "")
