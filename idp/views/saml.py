"""SAML 2.0 IdP endpoints: ``/saml/metadata``, ``/saml/sso`` (Redirect and POST), resume.

The hosted login page does the signing in (through the sign-in core); a request waiting
for it is kept in the session's pending store like an OIDC authorization request, and
``/saml/resume`` answers it once the login page marked it done (or given up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import lazy_gettext as _l

from idp.extensions import csrf_exempt
from idp.models.client import Client
from idp.models.patron import Patron
from idp.saml.keys import SamlKeys
from idp.saml.pending import PendingSso
from idp.saml.pending import SamlRequestError
from idp.saml.registry import find_sp
from idp.saml.server import BINDING_HTTP_POST
from idp.saml.server import BINDING_HTTP_REDIRECT
from idp.saml.server import EXTENSION
from idp.saml.server import SamlSettings
from idp.saml.server import SamlState
from idp.saml.server import from_settings
from idp.saml.server import metadata_xml
from idp.saml.server import saml_state
from idp.services import audit
from idp.services.container import container
from idp.settings import app_settings
from idp.views.support import pending
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.errors import error_page

bp = Blueprint("saml", __name__)

_REFUSED = _l("This sign-in request from the service cannot be accepted. Please start again.")


def _settings() -> SamlSettings:
    return saml_state().settings


def _keys() -> SamlKeys:
    return saml_state().keys


def _refuse(reason: str) -> Response:
    audit.record(
        "saml.request_refused",
        **caller_facts(),
        reason=reason,
    )
    return error_page(400, str(_REFUSED))


@bp.route("/saml/metadata")
def metadata() -> Response:
    """The IdP's signed metadata (``validUntil``: ``IDP_SAML_METADATA_VALID_HOURS``)."""
    return Response(
        metadata_xml(_settings(), _keys()),
        content_type="application/samlmetadata+xml",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@bp.route("/saml/sso", methods=["GET", "POST"])
@csrf_exempt  # a protocol endpoint: SPs POST AuthnRequests (SAML Bindings §3.5)
def sso() -> Any:
    """Check an AuthnRequest (or an IdP-initiated ``?sp=``) and answer or send to login."""
    # pysaml2 is loaded with the first SAML request, not with the application.
    from idp.saml.sso import check_request
    from idp.saml.sso import unsolicited

    settings, keys = _settings(), _keys()
    values = request.form if request.method == "POST" else request.args
    encoded = values.get("SAMLRequest")
    relay_state = values.get("RelayState")
    try:
        if encoded:
            binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
            waiting = check_request(
                settings,
                keys,
                encoded=encoded,
                binding=binding,
                relay_state=relay_state,
                sig_alg=values.get("SigAlg") if binding == BINDING_HTTP_REDIRECT else None,
                signature=values.get("Signature") if binding == BINDING_HTTP_REDIRECT else None,
                now=container().now(),
            )
        elif "sp" in request.args:
            sp = find_sp(request.args["sp"])
            if sp is None:
                raise SamlRequestError("The service provider is not registered.")
            waiting = unsolicited(sp, relay_state)
        else:
            raise SamlRequestError("No SAMLRequest.")
    except SamlRequestError as exc:
        return _refuse(str(exc))
    patron = current_patron()
    if patron is None or waiting.is_forced:
        return redirect(url_for("login.login", rid=pending.remember(waiting.as_params())))
    return _answer(waiting, patron)


@bp.route("/saml/resume")
def resume() -> Any:
    """Answer a request after the login page marked it signed in (or given up)."""
    from idp.saml.sso import check_acs
    from idp.saml.sso import error_response

    params = {key: request.args[key] for key in request.args}
    if params.get("protocol") != "saml":
        return _refuse("Not a SAML request.")
    waiting = PendingSso.from_params(params)
    if pending.take_mark("deny", params):
        try:
            sp = check_acs(_settings(), _keys(), waiting)
        except SamlRequestError as exc:
            return _refuse(str(exc))
        return _post(waiting, error_response(_settings(), _keys(), sp, waiting), sp.name)
    patron = current_patron()
    if not pending.take_mark("login", params) or patron is None:
        return _refuse("The sign-in for this request did not happen here.")
    return _answer(waiting, patron)


def _answer(waiting: PendingSso, patron: Patron) -> Response:
    from idp.saml.sso import assertion_response
    from idp.saml.sso import check_acs

    settings, keys = _settings(), _keys()
    try:
        sp = check_acs(settings, keys, waiting)
        body = assertion_response(
            settings,
            keys,
            sp,
            waiting,
            patron,
            secret=str(current_app.config["SECRET_KEY"]),
            auth_time=session.auth_time,  # type: ignore[attr-defined]
        )
    except SamlRequestError as exc:
        return _refuse(str(exc))
    audit.record(
        "saml.assertion_issued",
        patron_id=patron.id,
        client_id=sp.entity_id,
        **caller_facts(),
        idp_initiated=not waiting.request_id,
    )
    return _post(waiting, body, sp.name)


def _post(waiting: PendingSso, saml_response: str, name: str) -> Response:
    """The HTTP-POST binding: a form the browser submits to the ACS (script: static file)."""
    body = render_template(
        "saml/post.html",
        action=waiting.acs_url,
        saml_response=saml_response,
        relay_state=waiting.relay_state,
        name=name,
    )
    return Response(body, headers={"Cache-Control": "no-store"})


def login_client(params: dict[str, str]) -> Client | None:
    """What the login page shows and applies for a waiting SAML request: the SP's name
    and temporary-password policy (an unsaved :class:`Client`, never stored)."""
    sp = find_sp(params.get("sp", ""))
    if sp is None:
        return None
    return Client(
        client_id=sp.entity_id,
        name=sp.name,
        temporary_password_policy=sp.temporary_password_policy,
        is_first_party=False,
    )


def init_app(app: Flask) -> None:
    """Create the SAML key (first start), read the settings, register the routes."""
    settings = from_settings(app_settings(app))
    keys = SamlKeys(Path(app_settings(app).site.keys_dir) / "saml", settings.entity_id)
    keys.ensure()
    app.extensions[EXTENSION] = SamlState(settings=settings, keys=keys)
    app.register_blueprint(bp)
