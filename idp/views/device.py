"""The Device Authorization Grant's endpoints (RFC 8628): the device's and the patron's.

``POST /device_authorization`` gives a device its code pair (§3.1). On ``/device``
(``verification_uri``, or ``verification_uri_complete`` with ``?user_code=``) the patron
types or confirms the user code; once they have signed in through the hosted login page,
``/device/confirm`` shows which client asks for what and records their decision.
The token endpoint answers the device's polls (:mod:`idp.oauth.device`).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import StringField

from idp.extensions import csrf_exempt
from idp.extensions import db
from idp.models.client import Client
from idp.services import device
from idp.services.container import container
from idp.services.signin import SignInOutcome
from idp.services.signin import message_for
from idp.views.consent import SCOPE_DESCRIPTIONS
from idp.views.support.caller import caller_address
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.forms import DecisionForm
from idp.views.support.forms import required_field
from idp.views.support.page_form import PageForm

bp = Blueprint("device", __name__)

#: Session key: the request whose user code this browser entered.
SESSION_KEY = "device_request"
EXPIRED_TEXT = _l("This code has expired or was already used. Please start again on the device.")
UNKNOWN_TEXT = _l("This code is not valid. Check the code shown on the device and try again.")
_USER_CODE = {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}


# Declared like the other forms' required fields (views/support/forms.required_field);
# only the words and the input attributes are this page's own.
class UserCodeForm(PageForm):
    """The user code shown on the device."""

    user_code = required_field(
        StringField,
        _l("Code shown on the device"),
        _l("Enter the code shown on the device."),
        64,
        _USER_CODE,
    )


@bp.route("/device_authorization", methods=["POST"])
@csrf_exempt  # a protocol endpoint for devices (RFC 8628 §3.1)
def device_authorization() -> Any:
    """Give a device a device code, a user code and where to enter it."""
    return container().authorization.create_endpoint_response("device_authorization")


def requested_client() -> Client | None:
    """The client of the device request this browser is approving (for the login page)."""
    request_id = session.get(SESSION_KEY)
    if not isinstance(request_id, int):
        return None
    row = device.live_pending(request_id)
    if row is None:
        return None
    client: Client | None = db.session.scalar(
        select(Client).where(Client.client_id == row.client_id)
    )
    return client


@bp.route("/device", methods=["GET", "POST"])
def enter_code() -> Any:
    """Ask for the user code (pre-filled from ``verification_uri_complete``)."""
    form = UserCodeForm()
    message = None
    status = 200
    headers: dict[str, str] = {}
    if request.method == "GET" and request.args.get("user_code"):
        form.user_code.data = request.args["user_code"][:64]
    if form.validate_on_submit():
        found = device.find_pending(form.user_code.data or "", caller_address())
        if found.outcome is device.Lookup.FOUND and found.authorization is not None:
            session[SESSION_KEY] = found.authorization.id
            return redirect(url_for("device.confirm"))
        if found.outcome is device.Lookup.THROTTLED:
            status = 429
            headers["Retry-After"] = str(found.retry_after)
            message = message_for(SignInOutcome.THROTTLED, retry_after=found.retry_after)
        else:
            status = 400
            message = str(UNKNOWN_TEXT)
    elif request.method == "POST":
        status = 400
    body = render_template("device/enter.html", form=form, message=message)
    return body, status, headers


@bp.route("/device/confirm", methods=["GET", "POST"])
def confirm() -> Any:
    """Show what the device asks for; allow or deny it."""
    request_id = session.get(SESSION_KEY)
    row = device.live_pending(request_id) if isinstance(request_id, int) else None
    if row is None:
        session.pop(SESSION_KEY, None)
        body = render_template("device/enter.html", form=UserCodeForm(), message=str(EXPIRED_TEXT))
        return body, 400
    patron = current_patron()
    if patron is None:
        # The hosted login page, with the device's client (its temporary-password policy).
        return redirect(url_for("login.login", next=url_for("device.confirm")))
    client = db.session.scalar(select(Client).where(Client.client_id == row.client_id))
    form = DecisionForm()
    if form.validate_on_submit() and client is not None:
        approved = "allow" in request.form
        done = device.decide(
            row,
            patron_id=patron.id,
            approved=approved,
            auth_time=session.auth_time,  # type: ignore[attr-defined]
            sid=session.sid,  # type: ignore[attr-defined]
            **caller_facts(),
        )
        session.pop(SESSION_KEY, None)
        if not done:
            body = render_template(
                "device/enter.html", form=UserCodeForm(), message=str(EXPIRED_TEXT)
            )
            return body, 400
        return render_template("device/done.html", approved=approved, client=client)
    scopes = [SCOPE_DESCRIPTIONS[s] for s in scope_to_list(row.scope) if s in SCOPE_DESCRIPTIONS]
    return render_template(
        "device/confirm.html",
        form=form,
        client=client,
        scopes=scopes,
        user_code=device.display_user_code(row.user_code),
    )
