"""Passkeys on the hosted pages: sign in with one, and manage them on the account page.

The browser's part is ``static/passkey.js``: it asks ``…/options`` for the ceremony's
options (the challenge is kept in the session and used once), runs the ceremony, and
submits the answer in the form's ``credential`` field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from authlib.oauth2 import OAuth2Error
from authlib.oidc.core.errors import InteractionRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from flask import Blueprint
from flask import Response
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms import StringField
from wtforms.validators import InputRequired
from wtforms.validators import Length

from idp.extensions import db
from idp.models.client import Client
from idp.models.patron import Patron
from idp.services import webauthn_rp
from idp.services.accounts import passkeys
from idp.services.container import container
from idp.services.signin import SignInOutcome
from idp.services.signin import Source
from idp.services.signin import check_passkey
from idp.services.signin import message_for
from idp.services.webauthn_rp import PasskeyError
from idp.services.webauthn_rp import authentication_options
from idp.services.webauthn_rp import is_available
from idp.views.support import pending
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.errors import error_page
from idp.views.support.page_form import PageForm

bp = Blueprint("passkeys", __name__)

#: Session keys: the method of the current sign-in (``hwk``/``swk``; absent: password),
#: and the challenge of the ceremony in progress.
AMR_KEY = "amr"
_CHALLENGE = "passkey_challenge"

PASSKEY_FAILED = _l(
    "The passkey could not be used. Please try again, or log in with your password."
)
NEEDS_PASSWORD = _l("To add a passkey, log in again with your password first.")


class PasskeySignInForm(PageForm):
    """The answer of ``navigator.credentials.get()``."""

    credential = HiddenField()
    rid = HiddenField()


class AddPasskeyForm(PageForm):
    """A name for the new passkey, and the answer of ``navigator.credentials.create()``."""

    name = StringField(
        _l("Name of the passkey (e.g. the phone it is on)"),
        validators=[InputRequired(_l("Enter a name for the passkey.")), Length(max=64)],
    )
    credential = HiddenField()


class RemovePasskeyForm(PageForm):
    """Remove one passkey (CSRF only)."""


def login_form_context(rid: str | None, client: Client | None) -> dict[str, Any]:
    """What the login page needs for its passkey button (None: no passkeys here)."""
    if not is_available():
        return {"passkey_form": None, "passkey_only": False}
    return {
        "passkey_form": PasskeySignInForm(rid=rid or ""),
        "passkey_only": bool(client is not None and client.require_passkey),
    }


def passkey_required_error(patron: Patron, redirect_uri: str) -> OAuth2Error:
    """``prompt=none`` at a client that requires a passkey, signed in with the password.

    ``login_required`` when the patron has a passkey (signing in with it would do);
    ``interaction_required`` when they have none (they must add one first).
    """
    if passkeys.passkeys_of(patron.id):
        return LoginRequiredError(redirect_uri=redirect_uri)
    return InteractionRequiredError(redirect_uri=redirect_uri)


def _keep_challenge(purpose: str, challenge: bytes) -> None:
    session[_CHALLENGE] = {"purpose": purpose, "value": webauthn_rp.challenge_text(challenge)}


def _take_challenge(purpose: str) -> bytes | None:
    kept = session.pop(_CHALLENGE, None)
    if not isinstance(kept, dict) or kept.get("purpose") != purpose:
        return None
    try:
        return webauthn_rp.challenge_bytes(str(kept.get("value", "")))
    except ValueError:
        return None


def _local(when: dt.datetime) -> str:
    return when.astimezone(ZoneInfo(container().settings.site.timezone)).strftime("%Y-%m-%d %H:%M")


def _options_response(options_json: str) -> Response:
    response = Response(options_json, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login/passkey/options", methods=["POST"])
def login_options() -> Any:
    """Request options for a passkey sign-in (discoverable credentials)."""
    if not is_available():
        return jsonify(error="passkeys_unavailable"), 404
    options_json, challenge = authentication_options()
    _keep_challenge("login", challenge)
    return _options_response(options_json)


@bp.route("/login/passkey", methods=["POST"])
def login() -> Any:
    """Sign in with the passkey the browser answered with."""
    form = PasskeySignInForm()
    if not form.validate_on_submit():
        return error_page(400, str(PASSKEY_FAILED))
    rid = form.rid.data or None
    params = pending.recall(rid)
    result = check_passkey(
        form.credential.data or "",
        _take_challenge("login"),
        source=Source(
            **caller_facts(),
            client_id=params.get("client_id") if params else None,
        ),
    )
    if result.outcome is SignInOutcome.OK and result.patron is not None:
        session.sign_in(result.patron.id, int(container().now().timestamp()))  # type: ignore[attr-defined]
        session[AMR_KEY] = result.amr
        if params is not None and rid:
            pending.forget(rid)
            pending.mark_login(params)
            return redirect(pending.authorize_url(params))
        target = request.args.get("next") or ""
        if not target.startswith("/") or target.startswith(("//", "/\\")):
            target = url_for("home.index")
        return redirect(target)
    if result.outcome is SignInOutcome.THROTTLED:
        text = message_for(result.outcome, retry_after=result.retry_after)
        return error_page(429, text)
    if result.outcome is SignInOutcome.INVALID_CREDENTIALS:
        return error_page(401, str(PASSKEY_FAILED))
    return error_page(403, message_for(result.outcome))


@bp.route("/account/passkeys", methods=["GET", "POST"])
def index() -> Any:
    """List the patron's passkeys; add one (after a fresh password sign-in)."""
    patron = current_patron()
    if patron is None:
        return redirect(url_for("login.login", next=url_for("passkeys.index")))
    fresh = passkeys.is_fresh_password_login(
        session.auth_time,  # type: ignore[attr-defined]
        session.get(AMR_KEY),
    )
    form = AddPasskeyForm()
    status = 200
    if form.validate_on_submit():
        challenge = _take_challenge("register")
        if not fresh or challenge is None:
            flash(str(NEEDS_PASSWORD))
            return redirect(url_for("passkeys.index"))
        try:
            added = passkeys.add_passkey(
                patron,
                form.name.data or "",
                form.credential.data or "",
                challenge,
                **caller_facts(),
            )
        except (PasskeyError, ValueError):
            flash(str(PASSKEY_FAILED))
            return redirect(url_for("passkeys.index"))
        # Commit before the notice goes out: no mail for a passkey that was not kept.
        name, added_at = added.name, added.created_at
        db.session.commit()
        passkeys.tell_passkey_added(patron, name, added_at)
        flash(str(_l("The passkey was added.")))
        return redirect(url_for("passkeys.index"))
    if request.method == "POST":
        status = 400
    body = render_template(
        "passkeys/index.html",
        form=form,
        remove_form=RemovePasskeyForm(),
        passkeys=[
            (p, _local(p.created_at), _local(p.last_used_at) if p.last_used_at else None)
            for p in passkeys.passkeys_of(patron.id)
        ],
        fresh=fresh,
        available=is_available(),
    )
    return body, status


@bp.route("/account/passkeys/options", methods=["POST"])
def register_options() -> Any:
    """Creation options for a new passkey of the signed-in patron."""
    patron = current_patron()
    if patron is None or not is_available():
        return jsonify(error="login_required"), 403
    if not passkeys.is_fresh_password_login(session.auth_time, session.get(AMR_KEY)):  # type: ignore[attr-defined]
        return jsonify(error="login_required"), 403
    options_json, challenge = passkeys.start_registration(patron)
    _keep_challenge("register", challenge)
    return _options_response(options_json)


@bp.route("/account/passkeys/<int:passkey_id>/remove", methods=["POST"])
def remove(passkey_id: int) -> Any:
    """Remove one of the patron's passkeys."""
    patron = current_patron()
    if patron is None:
        return redirect(url_for("login.login", next=url_for("passkeys.index")))
    if not RemovePasskeyForm().validate_on_submit():
        return error_page(400, str(PASSKEY_FAILED))
    if passkeys.remove_passkey(patron.id, passkey_id, **caller_facts()):
        flash(str(_l("The passkey was removed.")))
    return redirect(url_for("passkeys.index"))
