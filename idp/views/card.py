"""The library card page (SPEC §4, §5): the rotating barcode to show at the desk.

``/card`` needs a signed-in patron whose login is at most ``IDP_CARD_RECENT_LOGIN``
seconds old (older sessions log in again, as with ``max_age``). The page works without
JavaScript (a refresh link); with it, ``idp/static/card.js`` fetches the next code from
``/card/current.json`` when the current one runs out. Both are ``no-store``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.cards.service import CardRefusal
from idp.services.cards.service import card_refusal
from idp.services.cards.service import card_service
from idp.services.cards.service import show_code
from idp.services.container import container

bp = Blueprint("card", __name__)

#: What the patron reads instead of a barcode.
REFUSALS: dict[CardRefusal, Any] = {
    "suspended": _l(
        "This library card is suspended, so the barcode cannot be shown. "
        "Please ask at the library counter."
    ),
    "lost": _l(
        "This library card has been reported lost, so the barcode cannot be shown. "
        "Please ask at the library counter."
    ),
    "withdrawn": _l("This library card is no longer valid. Please ask at the library counter."),
    "card_expired": _l("Your library card has expired. Please renew it at the library counter."),
    "temporary_password": _l("Your password is temporary. Please change it before you continue."),
}


def _card_holder() -> Patron | None:
    """The signed-in patron, if the login is recent enough to show the card."""
    patron_id = getattr(session, "patron_id", None)
    auth_time: int | None = getattr(session, "auth_time", None)
    if patron_id is None or auth_time is None:
        return None
    age = container().now().timestamp() - auth_time
    if age > card_service().recent_login:
        return None
    patron: Patron | None = db.session.get(Patron, patron_id)
    return patron


def _no_store(response: BaseResponse) -> BaseResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/card")
def index() -> Any:
    """Show the card: number, expiry, barcode and countdown; or why it cannot be shown."""
    patron = _card_holder()
    if patron is None:
        # Not signed in, or signed in too long ago: log in (again) and come back.
        return _no_store(redirect(url_for("login.login", next=url_for("card.index"))))
    now = container().now()
    refusal = card_refusal(patron, now)
    code = show_code(patron, now) if refusal is None else None
    body = render_template(
        "card/index.html",
        patron=patron,
        code=code,
        refusal=REFUSALS[refusal] if refusal else None,
        refusal_reason=refusal,
    )
    return _no_store(Response(body, status=403 if refusal else 200, mimetype="text/html"))


@bp.route("/card/current.json")
def current() -> BaseResponse:
    """The current code for the page's script (session-authenticated JSON)."""
    patron = _card_holder()
    if patron is None:
        response = jsonify(
            {"error": "login_required", "error_description": "Log in again to show the card."}
        )
        response.status_code = 401
        return _no_store(response)
    now = container().now()
    refusal = card_refusal(patron, now)
    if refusal is not None:
        response = jsonify({"error": "card_unavailable", "reason": refusal})
        response.status_code = 403
        return _no_store(response)
    code = show_code(patron, now)
    return _no_store(
        jsonify(
            {
                "barcode": code.issued.value,
                "symbology": code.symbology,
                "svg": code.svg,
                "seconds_left": code.seconds_left,
                "valid_until": code.issued.valid_until,
            }
        )
    )
