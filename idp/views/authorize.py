"""Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2): the ordered checks.

1. Authlib validates the request (client, exact redirect URI, response type, scope,
   PKCE S256, nonce, prompt); errors go back to a registered redirect URI or to a page.
2. Login: none yet, ``prompt=login`` or ``max_age`` exceeded → the login page
   (``prompt=none`` → ``login_required``).
3. Consent: third-party clients ask once (``prompt=none`` → ``consent_required``).
4. A code is issued, with ``iss`` (RFC 9207).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from authlib.oidc.core.errors import RegistrationNotSupportedError
from authlib.oidc.core.errors import RequestNotSupportedError
from authlib.oidc.core.errors import RequestURINotSupportedError
from flask import Blueprint
from flask import Response
from flask import redirect
from flask import request
from flask import session
from flask import url_for

from idp.extensions import csrf_exempt
from idp.extensions import db
from idp.models.client import Client
from idp.models.patron import Patron
from idp.oauth.authorization import consent_covers
from idp.oauth.authorization import passkey_missing
from idp.oauth.grants import BrowserLogin
from idp.services import audit
from idp.services.container import container
from idp.views.passkeys import AMR_KEY
from idp.views.passkeys import passkey_required_error
from idp.views.support import pending
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.errors import authorization_error

bp = Blueprint("authorize", __name__)


@bp.route("/authorize", methods=["GET", "POST"])
@csrf_exempt  # a protocol endpoint: relying parties may POST the request (OIDC Core §3.1.2.1)
def authorize() -> Any:
    """Validate an authorization request and answer it, or send the patron to log in."""
    server = container().authorization
    patron = current_patron()
    params = {key: request.values[key] for key in request.values}
    if sum(len(k) + len(v) for k, v in params.items()) > pending.MAX_REQUEST_SIZE:
        return authorization_error(InvalidRequestError("The request is too large."))
    try:
        grant = server.get_consent_grant(end_user=patron)
        redirect_uri = grant.redirect_uri
        _refuse_unsupported(params, redirect_uri)
        prompts = set(params.get("prompt", "").split())
        client: Client = grant.client
        # The patron gave up (consent denied, or "back to the service" at the login
        # page, where nobody is signed in): access_denied goes back to the client.
        if pending.take_mark("deny", params):
            return _respond(server, grant, None, client)
        just_logged_in = pending.take_mark("login", params)
        if patron is None or _needs_fresh_login(params, prompts, just_logged_in):
            if "none" in prompts:
                raise LoginRequiredError(redirect_uri=redirect_uri)
            return redirect(url_for("login.login", rid=pending.remember(params)))
        if passkey_missing(client, session.get(AMR_KEY)):
            if "none" in prompts:
                raise passkey_required_error(patron, redirect_uri)
            return redirect(url_for("login.login", rid=pending.remember(params)))
        if _needs_consent(patron, client, grant.request.scope, prompts, params):
            if "none" in prompts:
                raise ConsentRequiredError(redirect_uri=redirect_uri)
            return redirect(url_for("consent.consent", rid=pending.remember(params)))
    except OAuth2Error as error:
        error.state = params.get("state")
        return authorization_error(error)
    return _respond(server, grant, patron, client)


def _respond(server: Any, grant: Any, patron: Patron | None, client: Client) -> Response:
    login = BrowserLogin(session.sid, session.auth_time, session.get(AMR_KEY))  # type: ignore[attr-defined]
    response: Response = server.create_validated_authorization_response(grant, patron, login)
    if patron is not None and response.status_code == 302:
        seen = list(session.row.clients) if session.row is not None else []  # type: ignore[attr-defined]
        if client.client_id not in seen and session.row is not None:  # type: ignore[attr-defined]
            session.row.clients = [*seen, client.client_id]  # type: ignore[attr-defined]
        audit.record(
            "code.issued",
            patron_id=patron.id,
            client_id=client.client_id,
            **caller_facts(),
        )
        # One commit: the code, its audit event and the session's clients and data.
        session.write_to_row()  # type: ignore[attr-defined]
        db.session.commit()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _refuse_unsupported(params: dict[str, str], redirect_uri: str) -> None:
    # OIDC Core §6: request objects are optional; say so with the registered error codes.
    if "request" in params:
        raise RequestNotSupportedError(redirect_uri=redirect_uri)
    if "request_uri" in params:
        raise RequestURINotSupportedError(redirect_uri=redirect_uri)
    if "registration" in params:
        raise RegistrationNotSupportedError(redirect_uri=redirect_uri)
    prompts = params.get("prompt", "").split()
    if "none" in prompts and len(prompts) > 1:
        # OIDC Core §3.1.2.1: none with any other value is an error.
        raise InvalidRequestError("Invalid 'prompt' parameter.", redirect_uri=redirect_uri)
    max_age = params.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 10):
        raise InvalidRequestError("Invalid 'max_age' parameter.", redirect_uri=redirect_uri)


def _needs_fresh_login(params: dict[str, str], prompts: set[str], just_logged_in: bool) -> bool:
    if just_logged_in or not pending.asks_fresh_login(params):
        return False
    if "login" in prompts:
        return True
    max_age = params.get("max_age")
    auth_time: int | None = session.auth_time  # type: ignore[attr-defined]
    if max_age is not None and auth_time is not None:
        # OIDC Core §3.1.2.1: re-authenticate when the last one is older than max_age.
        return container().now().timestamp() - auth_time > int(max_age)
    return False


def _needs_consent(
    patron: Patron, client: Client, scope: str, prompts: set[str], params: dict[str, str]
) -> bool:
    if client.is_first_party:
        return False
    if pending.take_mark("consent", params):
        return False
    if "consent" in prompts:
        return True
    return not consent_covers(db.session.connection(), patron.id, client, scope)
