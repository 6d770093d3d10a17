"""The fast path of ``/authorize`` for a signed-in browser's common request: the same
rule functions as the view and Authlib (:mod:`idp.oauth.authorization`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636.challenge import CODE_CHALLENGE_PATTERN

from idp.oauth.authorization import code_values
from idp.oauth.authorization import consent_covers
from idp.oauth.authorization import issue_code
from idp.oauth.authorization import new_code
from idp.oauth.authorization import nonce_seen
from idp.oauth.authorization import passkey_missing
from idp.oauth.hot import client_registry
from idp.oauth.session_reads import load_session_for
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.views.passkeys import AMR_KEY
from idp.views.support import pending
from idp.views.support.fast_answers import Answer
from idp.views.support.fast_answers import Call
from idp.views.support.fast_answers import Fallthrough
from idp.views.support.fast_answers import Redirect
from idp.views.support.fast_answers import _form
from idp.views.support.fast_tokens import _patron
from idp.views.support.sessions import is_due_a_touch
from idp.views.support.sessions import is_live

if TYPE_CHECKING:
    from idp.views.support.fast import FastPath


#: The parameters of the common authorization request; any other one (``prompt``,
#: ``max_age``, ``request`` …) is for the Flask view.
AUTHORIZE_PARAMETERS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)


def authorize_endpoint(path: FastPath, call: Call) -> Answer:
    """``GET /authorize`` by a signed-in browser, for a client that needs no consent
    screen now: a new code, back to the client (the checks of idp/views/authorize.py
    and Authlib's validation, by the same functions)."""
    # Long on purpose: the same ordered list of checks as the authorize view and Authlib
    # (each a shared rule function), then the one write; any miss falls through.
    query = str(call.environ.get("QUERY_STRING", ""))
    if len(query) > pending.MAX_REQUEST_SIZE or "%00" in query:
        raise Fallthrough
    params = _form(query.encode("latin-1"))
    if set(params) - AUTHORIZE_PARAMETERS or "\x00" in "".join(params.values()):
        raise Fallthrough
    client_id = params.get("client_id")
    redirect_uri = params.get("redirect_uri")
    challenge = params.get("code_challenge")
    if (
        params.get("response_type") != "code"
        or not client_id
        or len(client_id) > 64
        or not redirect_uri
        or params.get("code_challenge_method") != "S256"
        or not challenge
        or not CODE_CHALLENGE_PATTERN.match(challenge)
    ):
        raise Fallthrough
    token = path.session_token(call.environ)
    if not token:
        raise Fallthrough
    with path.single_statements() as connection:
        login = load_session_for(connection, token_hash(token), client_id)
        settings = path.settings
        if (
            login is None
            or login.patron_id is None
            or not is_live(
                login.expires_at, login.last_seen_at, call.now, settings.sessions.idle_timeout
            )
            or any(key.startswith("done_") for key in login.data)
            or not login.client_enabled
            or login.client_version is None
        ):
            raise Fallthrough
        patron = _patron(login.patron, call)
        client = client_registry().get(client_id, login.client_version)
        scope = params.get("scope", "")
        if (
            client is None
            or not client.is_enabled
            or not client.check_redirect_uri(redirect_uri)
            or not client.check_response_type("code")
        ):
            raise Fallthrough
        amr = login.data.get(AMR_KEY)
        allowed = client.get_allowed_scope(scope)
        nonce = params.get("nonce")
        if (
            passkey_missing(client, amr)
            or (nonce and nonce_seen(connection, client_id, nonce))
            or not consent_covers(connection, patron.id, client, allowed)
        ):
            raise Fallthrough
        code = new_code()
        values = code_values(
            code,
            client_id=client_id,
            patron_id=patron.id,
            data=params,
            scope=allowed,
            login=(login.sid, login.auth_time, amr),
            now=call.now,
            ttl=settings.tokens.code_ttl,
        )
        recorded = audit.row_for(
            "code.issued",
            patron_id=patron.id,
            client_id=client_id,
            ip=call.remote_addr,
            user_agent=call.user_agent,
        )
        touch = None
        seen = list(login.clients or [])
        if client_id not in seen or is_due_a_touch(login.last_seen_at, call.now):
            if client_id not in seen:
                seen.append(client_id)
            last_seen = (
                call.now if is_due_a_touch(login.last_seen_at, call.now) else login.last_seen_at
            )
            touch = {"session_id": login.id, "clients": seen, "last_seen_at": last_seen}
        issue_code(connection, values, recorded.values, touch)
        connection.commit()
    recorded.announce()
    answer = [("code", code)]
    if params.get("state"):
        answer.append(("state", params["state"]))
    answer.append(("iss", settings.site.issuer))
    return Redirect(add_params_to_uri(redirect_uri, answer), "authorize.authorize", client_id)
