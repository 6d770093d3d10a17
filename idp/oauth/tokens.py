"""Token values and their storage: random bearer strings, kept only as SHA-256 hashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update

from idp.extensions import db
from idp.models.client import Client
from idp.models.token import Token
from idp.oauth.hot import TokenView
from idp.oauth.hot import attach_client
from idp.oauth.hot import load_access_token
from idp.oauth.hot import load_refresh_token
from idp.services.container import container
from idp.services.signin import refusal_reason


def token_hash(value: str) -> str:
    """SHA-256 of a token or code: what the database keeps instead of the value."""
    return hashlib.sha256(value.encode()).hexdigest()


def generate_bearer_token(
    grant_type: str,
    client: Client,
    user: Any = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """Authlib token generator: an access token, and a refresh token only when the
    patron granted ``offline_access`` to a client allowed the refresh grant."""
    settings = container().settings
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": secrets.token_urlsafe(32),
        "expires_in": expires_in or settings.tokens.access_token_ttl,
    }
    if scope:
        token["scope"] = scope
    if (
        include_refresh_token
        and user is not None
        and "offline_access" in scope_to_list(scope or "")
        and client.check_grant_type("refresh_token")
    ):
        token["refresh_token"] = secrets.token_urlsafe(48)
    return token


# Built once: the hot lookups skip statement construction on every request.
_BY_ACCESS = select(Token).where(Token.access_token_hash == bindparam("digest"))
_BY_REFRESH = select(Token).where(Token.refresh_token_hash == bindparam("digest"))


def find_access_token(value: str) -> Token | None:
    """The token row whose access token is ``value``."""
    row: Token | None = db.session.scalar(_BY_ACCESS, {"digest": token_hash(value)})
    return row


def find_token(value: str, hint: str | None = None) -> Token | None:
    """The token row (model) whose access or refresh token is ``value``."""
    digest = token_hash(value)
    statements = [_BY_ACCESS, _BY_REFRESH]
    if hint == "refresh_token":
        statements.reverse()
    for statement in statements:
        row: Token | None = db.session.scalar(statement, {"digest": digest})
        if row is not None:
            return row
    return None


def find_presented_token(
    connection: Connection, value: str, hint: str | None = None
) -> tuple[TokenView, str] | None:
    """The token whose access or refresh token is ``value`` (with its client attached),
    and which of the two it is: ``"access_token"`` or ``"refresh_token"``."""
    digest = token_hash(value)
    kinds = [("access_token", load_access_token), ("refresh_token", load_refresh_token)]
    if hint == "refresh_token":
        kinds.reverse()
    for kind, load in kinds:
        view = load(connection, digest)
        if view is not None:
            return (view, kind) if attach_client(view) else None
    return None


def holder_may_use(view: TokenView, now: dt.datetime) -> bool:
    """The token's client is enabled and its patron (if any) may still sign in.

    Every path that honours a token asks this on every request, from the state read
    with the token: disabling a client or a staff change to the patron (reset, status,
    expiry) takes effect on the next request, on every node.
    """
    if not view.client_enabled or not view.client.is_enabled:
        return False
    patron = view.patron
    return patron is None or refusal_reason(patron.as_patron(), now) is None


def is_access_active(view: TokenView, now: dt.datetime) -> bool:
    """The access token may be honoured now (userinfo, APIs, introspection)."""
    return view.revoked_at is None and now < view.access_expires_at and holder_may_use(view, now)


def is_refresh_active(view: TokenView, now: dt.datetime) -> bool:
    """The refresh token is live: not revoked, rotated or expired (RFC 7662: a refresh
    token already exchanged is not active, even within the retry grace)."""
    return view.is_refresh_usable(now) and holder_may_use(view, now)


def bearer_refusal(view: TokenView | None, now: dt.datetime, scopes: list[str]) -> str | None:
    """Why a bearer token cannot be used for a resource needing ``scopes`` (RFC 6750
    §3.1 error code), or None when it can."""
    if view is None or not is_access_active(view, now):
        return "invalid_token"
    if _BearerTokenValidator.scope_insufficient(view.scope, scopes):
        return "insufficient_scope"
    return None


def revoke_family(family_id: str, now: dt.datetime) -> int:
    """Revoke every token of a grant family (reuse detected, or revocation).

    :return: the number of token rows revoked now.
    """
    result = db.session.execute(
        update(Token)
        .where(Token.family_id == family_id, Token.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
