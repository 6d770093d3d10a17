"""The hosted login page: card number and password (SPEC §4)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import lazy_gettext as _l

from idp.models.client import Client
from idp.oauth.server import registered_client
from idp.services.container import container
from idp.services.signin import SignInOutcome
from idp.services.signin import Source
from idp.services.signin import check_patron
from idp.services.signin import message_for
from idp.views.device import requested_client
from idp.views.passkeys import AMR_KEY
from idp.views.passkeys import login_form_context
from idp.views.password import CHANGED_LOGIN_AGAIN
from idp.views.password import allow_forced_change
from idp.views.password import start_forced_change
from idp.views.support import pending
from idp.views.support.account_forms import CancelForm
from idp.views.support.caller import caller_facts
from idp.views.support.errors import error_page
from idp.views.support.forms import LoginForm
from idp.views.support.next_url import safe_next

bp = Blueprint("login", __name__)

#: HTTP status of a refused sign-in (any other refusal: 403).
_STATUS = {SignInOutcome.INVALID_CREDENTIALS: 401, SignInOutcome.THROTTLED: 429}


def refusal_message(outcome: SignInOutcome, policy: str = "deny", retry_after: int = 0) -> str:
    """The message for a refused sign-in, by outcome and the client's policy."""
    return message_for(outcome, retry_after=retry_after, must_change=policy == "change")


def _client_for(params: dict[str, str] | None) -> Client | None:
    if params and params.get("protocol") == "saml":
        from idp.views.saml import login_client

        return login_client(params)
    if not params or "client_id" not in params:
        return None
    return registered_client(params["client_id"])


def _safe_next(target: str | None) -> str:
    # Only a path on this site, as the browser will read it (idp/views/support/next_url.py).
    return safe_next(target) or url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form, and sign the patron in."""
    # Long on purpose: the login page's one ordered sequence (request, CSRF, the sign-in
    # core, then one short branch per outcome); the order is the rule.
    form = LoginForm()
    rid = request.values.get("rid") or form.rid.data or None
    params = pending.recall(rid)
    # A device request being approved on /device: its client's temporary-password policy.
    client = _client_for(params) or requested_client()
    if request.method == "GET":
        form.rid.data = rid if params else ""
    message = None
    notice = None
    if "login_notice" in session:  # set once by a successful forced password change
        notice = CHANGED_LOGIN_AGAIN if session.pop("login_notice") else None
    temporary_denied = False
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        client_id = client.client_id if client else None
        result = check_patron(
            form.card_number.data or "",
            form.password.data or "",
            channel="web",
            source=Source(
                **caller_facts(),
                client_id=client_id,
            ),
        )
        patron = result.patron
        if result.outcome is SignInOutcome.OK and patron is not None:
            # The sign-in itself is audited by the core.
            session.sign_in(patron.id, int(container().now().timestamp()))  # type: ignore[attr-defined]
            session.pop(AMR_KEY, None)  # signed in with the password
            if params is not None and rid:
                pending.forget(rid)
                pending.mark_login(params)
                return redirect(pending.authorize_url(params))
            return redirect(_safe_next(request.args.get("next")))
        status = _STATUS.get(result.outcome, 403)
        if result.outcome is SignInOutcome.THROTTLED:
            headers["Retry-After"] = str(result.retry_after)
        policy = client.temporary_password_policy if client else "change"
        if result.outcome is SignInOutcome.TEMPORARY_PASSWORD and patron is not None:
            if policy == "change":
                # Not signed in: the temporary password only reaches the change form.
                return start_forced_change(patron.id, rid if params else None, _next_arg())
            # The password was just verified: the refusal page leads straight to the
            # change form; after the change, logging in with the new password continues
            # this request to the client.
            allow_forced_change(patron.id, rid if params else None, _next_arg())
            temporary_denied = True
        message = refusal_message(result.outcome, policy, result.retry_after)
    elif request.method == "POST":
        status = 400
    form.password.data = ""
    body = render_template(
        "login/login.html",
        form=form,
        client=client,
        message=message,
        notice=notice,
        temporary_denied=temporary_denied,
        cancel_form=CancelForm(rid=form.rid.data) if params else None,
        **login_form_context(form.rid.data, client),
    )
    return body, status, headers


def _next_arg() -> str | None:
    return safe_next(request.args.get("next"))


@bp.route("/login/cancel", methods=["POST"])
def cancel() -> Any:
    """Give up a sign-in request: the client gets ``access_denied`` (with ``iss``, ``state``)."""
    form = CancelForm()
    params = pending.recall(form.rid.data) if form.validate_on_submit() else None
    if params is None:
        return error_page(400, str(_l("This sign-in request has expired. Please start again.")))
    pending.forget(form.rid.data)
    pending.mark("deny", params)
    return redirect(pending.authorize_url(params))
