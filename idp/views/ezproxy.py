"""``POST /ezproxy/check``: EZproxy's external-script login check (:mod:`idp.services.ezproxy`).

The answer is ``text/plain``: ``+VALID`` or ``-INVALID <reason>`` (200); a caller that is
not configured gets 403 ``-INVALID forbidden``, a malformed form 400 ``-INVALID
bad_request``; with no ``IDP_EZPROXY_SECRET`` the endpoint is 404.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import request

from idp.extensions import csrf_exempt
from idp.services.container import container
from idp.services.ezproxy import INVALID
from idp.services.ezproxy import answer_for
from idp.services.ezproxy import check_login
from idp.services.signin import MAX_PASSWORD_INPUT
from idp.views.support.caller import caller_address
from idp.views.support.caller import caller_user_agent

bp = Blueprint("ezproxy", __name__)

#: The header that may carry the shared secret instead of the URL.
SECRET_HEADER = "X-EZproxy-Secret"  # noqa: S105 - a header name
MAX_CARD_NUMBER = 64


def _plain(body: str, status: int = 200) -> Response:
    return Response(
        body,
        status=status,
        content_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _field(name: str, limit: int) -> str | None:
    value = request.form.get(name)
    if value is None or not value or len(value) > limit or "\x00" in value:
        return None
    return value


@bp.route("/ezproxy/check", methods=["POST"])
@csrf_exempt  # called by the EZproxy server, not a browser form
def check() -> Response:
    """Answer EZproxy: ``+VALID`` for an active patron with a right, permanent password."""
    settings = container().ezproxy
    if not settings.is_enabled:
        abort(404)
    presented = request.headers.get(SECRET_HEADER) or request.args.get("secret")
    if not settings.admits(presented, caller_address()):
        return _plain(f"{INVALID} forbidden\n", 403)
    card_number = _field("user", MAX_CARD_NUMBER)
    password = _field("pass", MAX_PASSWORD_INPUT)
    patron_ip = request.form.get("ip") or None
    if patron_ip is not None:
        try:
            patron_ip = str(ipaddress.ip_address(patron_ip))
        except ValueError:
            return _plain(f"{INVALID} bad_request\n", 400)
    if card_number is None or password is None:
        return _plain(f"{INVALID} bad_request\n", 400)
    outcome, retry_after = check_login(
        settings,
        card_number,
        password,
        caller_ip=caller_address(),
        patron_ip=patron_ip,
        user_agent=caller_user_agent(),
    )
    response = _plain(answer_for(outcome))
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app: Flask) -> None:
    """Register the route (its settings are read at start: ``container().ezproxy``)."""
    app.register_blueprint(bp)
