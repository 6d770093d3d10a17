"""The fast path of ``/token`` (code exchange, refresh), ``/userinfo`` and ``/introspect``:
the common successes, checked by the same functions as the Authlib endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oidc.core.grants.util import is_openid_scope
from sqlalchemy import Connection

from idp.models.client import Client
from idp.oauth.claims import end_family_after_lost_claim
from idp.oauth.claims import redeem_code
from idp.oauth.claims import redeem_refresh
from idp.oauth.claims import token_row
from idp.oauth.endpoints import introspection_payload
from idp.oauth.grants import code_is_redeemable
from idp.oauth.grants import pkce_matches
from idp.oauth.grants import receiving_patron
from idp.oauth.grants import refresh_is_redeemable
from idp.oauth.hot import PatronView
from idp.oauth.hot import attach_client
from idp.oauth.hot import client_registry
from idp.oauth.hot import load_access_token
from idp.oauth.hot import load_code
from idp.oauth.hot import load_refresh_token
from idp.oauth.oidc import id_token_for
from idp.oauth.tokens import bearer_refusal
from idp.oauth.tokens import find_presented_token
from idp.oauth.tokens import generate_bearer_token
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.claims import claims_for
from idp.sqlite_writes import release as release_write_lock
from idp.views.support.fast_answers import Answer
from idp.views.support.fast_answers import Call
from idp.views.support.fast_answers import Fallthrough

if TYPE_CHECKING:
    from idp.views.support.fast import FastPath


def _authenticated_client(call: Call, client_id: str, version: int, endpoint: str) -> Client:
    """The client of a token or code (``client_id``, registration ``version``), if the
    request authenticates as that client with a method it may use at ``endpoint``
    (the model's own checks, as Authlib calls them)."""
    header = str(call.environ.get("HTTP_AUTHORIZATION", ""))
    form = call.form
    if header:
        if not header.startswith("Basic ") or "client_secret" in form:
            raise Fallthrough
        try:
            named, secret = extract_basic_authorization({"Authorization": header})
        except (ValueError, UnicodeDecodeError):
            raise Fallthrough from None
        method = "client_secret_basic"
        if "client_id" in form and form["client_id"] != named:
            raise Fallthrough
    elif "client_secret" in form:
        named, secret, method = form.get("client_id"), form["client_secret"], "client_secret_post"
    else:
        named, secret, method = form.get("client_id"), None, "none"
    if named != client_id:
        raise Fallthrough
    client = client_registry().get(client_id, version)
    if client is None or not client.is_enabled:
        raise Fallthrough
    if not client.check_endpoint_auth_method(method, endpoint):
        raise Fallthrough
    if method == "none":
        if not client.is_public:
            raise Fallthrough
    elif not client.check_client_secret(secret):
        raise Fallthrough
    return client


def _patron(patron: PatronView | None, call: Call) -> PatronView:
    try:
        return receiving_patron(patron, call.now)
    except Exception:
        raise Fallthrough from None


def _issue(
    call: Call, grant_type: str, client: Client, patron: PatronView, scope: str
) -> dict[str, Any]:
    return generate_bearer_token(
        grant_type,
        client,
        user=patron,
        scope=scope,
        include_refresh_token=grant_type == "refresh_token"
        or client.check_grant_type("refresh_token"),
    )


def _issued(
    connection: Connection, recorded: audit.Row, token: dict[str, Any], client: Client
) -> Answer:
    """Commit the redemption and answer with the new token."""
    connection.commit()
    # Before the log line: on SQLite that lets the next writer in.
    release_write_lock(connection)
    recorded.announce()
    return Answer(token, "token.issue_token", client.client_id)


def _recorded(call: Call, client: Client, patron: PatronView, grant: str) -> audit.Row:
    return audit.row_for(
        "token.issued",
        patron_id=patron.id,
        client_id=client.client_id,
        ip=call.remote_addr,
        user_agent=call.user_agent,
        grant=grant,
    )


def token_endpoint(path: FastPath, call: Call) -> Answer:
    """``POST /token``: a code exchange or a refresh that succeeds."""
    grant_type = call.form.get("grant_type")
    if grant_type == "authorization_code":
        return _code_exchange(path, call)
    if grant_type == "refresh_token":
        return _refresh(path, call)
    raise Fallthrough


#: The parameters of a code exchange the fast path answers (any other: Authlib).
CODE_PARAMETERS = {
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
}


def _code_exchange(path: FastPath, call: Call) -> Answer:
    form = call.form
    if set(form) - CODE_PARAMETERS:
        raise Fallthrough
    value = form.get("code")
    if not value or len(value) > 512:
        raise Fallthrough
    with path.single_statements() as connection:
        code = load_code(connection, token_hash(value))
        if code is None:
            raise Fallthrough
        client = _authenticated_client(call, code.client_id, code.client_version, "token")
        if (
            not client.check_grant_type("authorization_code")
            or not code_is_redeemable(code, client.client_id, call.now)
            or form.get("redirect_uri") != code.redirect_uri
            or not pkce_matches(code, form.get("code_verifier"))
        ):
            raise Fallthrough
        patron = _patron(code.patron, call)
        token = _issue(call, "authorization_code", client, patron, code.scope)
        if is_openid_scope(token.get("scope")):
            # Signed before the first write: SQLite holds its write lock from there on.
            token["id_token"] = id_token_for(code, client, patron, token["access_token"])
        row = token_row(
            token,
            client_id=client.client_id,
            patron_id=patron.id,
            family=(f"code-{code.id}", code.sid, None),
            now=call.now,
            refresh_ttl=path.settings.tokens.refresh_token_ttl,
        )
        recorded = _recorded(call, client, patron, "authorization_code")
        if not redeem_code(connection, code.id, call.now, row, recorded.values):
            # Redeemed meanwhile: nothing was written; give the connection (and
            # SQLite's write lock) back; revoke what the code issued; the slow path
            # then answers (and records) the second redemption.
            connection.rollback()
            connection.close()
            end_family_after_lost_claim(f"code-{code.id}", None)
            raise Fallthrough
        return _issued(connection, recorded, token, client)


def _refresh(path: FastPath, call: Call) -> Answer:
    form = call.form
    if set(form) - {"grant_type", "refresh_token", "client_id", "client_secret"}:
        raise Fallthrough  # e.g. a narrower scope: Authlib
    value = form.get("refresh_token")
    if not value or len(value) > 512:
        raise Fallthrough
    with path.single_statements() as connection:
        old = load_refresh_token(connection, token_hash(value))
        if old is None or old.rotated_at is not None:
            raise Fallthrough  # unknown, or a retry or reuse: Authlib
        client = _authenticated_client(call, old.client_id, old.client_version, "token")
        grace = path.settings.tokens.refresh_reuse_grace
        if not client.check_grant_type("refresh_token") or not refresh_is_redeemable(
            old, client.client_id, call.now, grace
        ):
            raise Fallthrough
        patron = _patron(old.patron, call)
        # Made before the claim: SQLite holds its write lock from the claim on.
        token = _issue(call, "refresh_token", client, patron, old.scope)
        row = token_row(
            token,
            client_id=client.client_id,
            patron_id=patron.id,
            family=(old.family_id, old.sid, old.id),
            now=call.now,
            refresh_ttl=path.settings.tokens.refresh_token_ttl,
        )
        recorded = _recorded(call, client, patron, "refresh_token")
        if not redeem_refresh(connection, old.id, call.now, row, recorded.values):
            raise Fallthrough  # rotated meanwhile (nothing written): Authlib sees the reuse
        return _issued(connection, recorded, token, client)


def userinfo_endpoint(path: FastPath, call: Call) -> Answer:
    """``GET``/``POST /userinfo`` with ``Authorization: Bearer`` and a good token."""
    header = str(call.environ.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > 512 or call.form:
        raise Fallthrough
    with path.single_statements() as connection:
        view = load_access_token(connection, token_hash(value))
    if view is None or not attach_client(view):
        raise Fallthrough
    if bearer_refusal(view, call.now, ["openid"]) is not None or view.patron is None:
        raise Fallthrough
    body = claims_for(view.patron.as_patron(), view.client, view.scope)
    return Answer(body, "userinfo.userinfo", view.client_id)


def introspection_endpoint(path: FastPath, call: Call) -> Answer:
    """``POST /introspect`` by the client a known token was issued to."""
    form = call.form
    if set(form) - {"token", "token_type_hint", "client_id", "client_secret"}:
        raise Fallthrough
    value = form.get("token")
    hint = form.get("token_type_hint")
    if not value or len(value) > 512 or hint not in (None, "access_token", "refresh_token"):
        raise Fallthrough
    with path.single_statements() as connection:
        found = find_presented_token(connection, value, hint)
    if found is None:
        raise Fallthrough
    view, kind = found
    client = _authenticated_client(call, view.client_id, view.client_version, "introspection")
    if client.is_public:
        raise Fallthrough
    return Answer(
        introspection_payload(view, kind, call.now), "token.introspect_token", client.client_id
    )
