"""Consent page: a third-party client asks once for the patron's approval (SPEC §2)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from idp.extensions import db
from idp.models.client import Client
from idp.models.consent import Consent
from idp.services import audit
from idp.services.container import container
from idp.views.support import pending
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.errors import error_page
from idp.views.support.forms import DecisionForm

bp = Blueprint("consent", __name__)

#: What each scope means, in the patron's words.
SCOPE_DESCRIPTIONS = {
    "openid": _l("Know that you are a patron of this library (an anonymous identifier)"),
    "profile": _l("Your name"),
    "email": _l("Your e-mail address"),
    "library_card": _l("Your library card number and its expiry date"),
    "offline_access": _l("Keep you signed in while you are away"),
}


@bp.route("/authorize/consent", methods=["GET", "POST"])
def consent() -> Any:
    """Ask the patron to allow or deny a client's request."""
    form = DecisionForm()
    rid = request.values.get("rid") or form.rid.data or ""
    params = pending.recall(rid)
    patron = current_patron()
    if params is None or patron is None:
        return error_page(400, str(_l("This sign-in request has expired. Please start again.")))
    client = db.session.scalar(select(Client).where(Client.client_id == params.get("client_id")))
    if client is None:
        return error_page(400, str(_l("This sign-in request has expired. Please start again.")))
    allowed = client.get_allowed_scope(params.get("scope", ""))
    if form.validate_on_submit():
        pending.forget(rid)
        if "allow" in request.form:
            row = db.session.scalar(
                select(Consent).where(
                    Consent.patron_id == patron.id, Consent.client_id == client.client_id
                )
            )
            if row is None:
                row = Consent(patron_id=patron.id, client_id=client.client_id, scope="")
                db.session.add(row)
            merged = set(scope_to_list(row.scope)) | set(scope_to_list(allowed))
            row.scope = " ".join(sorted(merged))
            row.granted_at = container().now()
            audit.record(
                "consent.granted",
                patron_id=patron.id,
                client_id=client.client_id,
                **caller_facts(),
                scope=row.scope,
            )
            db.session.commit()
            pending.mark("consent", params)
        else:
            pending.mark("deny", params)
        return redirect(pending.authorize_url(params))
    form.rid.data = rid
    scopes = [SCOPE_DESCRIPTIONS[s] for s in scope_to_list(allowed) if s in SCOPE_DESCRIPTIONS]
    session.modified = True
    return render_template("consent/consent.html", form=form, client=client, scopes=scopes)
