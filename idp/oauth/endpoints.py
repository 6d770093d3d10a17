"""Token endpoints around the grants: revocation (RFC 7009), introspection (RFC 7662),
RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), bearer validation (RFC 6750).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc6750 import InsufficientScopeError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import request as flask_request
from flask import session
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.models.client import Client
from idp.models.token import Token
from idp.oauth.hot import TokenView
from idp.oauth.hot import attach_client
from idp.oauth.hot import load_access_token
from idp.oauth.tokens import bearer_refusal
from idp.oauth.tokens import find_presented_token
from idp.oauth.tokens import find_token
from idp.oauth.tokens import is_access_active
from idp.oauth.tokens import is_refresh_active
from idp.oauth.tokens import revoke_family
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.accounts.subjects import subject_for
from idp.services.container import container
from idp.services.logout import end_browser_session

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post"]


class RevocationEndpoint(_RevocationEndpoint):  # type: ignore[misc]
    """Revoking either token of a pair revokes its whole grant family."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [*CONFIDENTIAL_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Any) -> None:
        revoke_family(token.family_id, container().now())
        audit.record(
            "token.revoked",
            patron_id=token.patron_id,
            client_id=token.client_id,
            ip=flask_request.remote_addr,
            user_agent=flask_request.user_agent.string,
        )


@dataclass(frozen=True)
class PresentedToken:
    """A token and which of its two values was presented."""

    row: TokenView
    kind: str


class IntrospectionEndpoint(_IntrospectionEndpoint):  # type: ignore[misc]
    """A confidential client may introspect the tokens issued to itself."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = CONFIDENTIAL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        found = find_presented_token(db.session.connection(), token_string, token_type_hint)
        return PresentedToken(*found) if found is not None else None

    def check_permission(self, token: PresentedToken, client: Client, request: Any) -> bool:
        return token.row.client_id == client.client_id

    def create_introspection_payload(self, token: PresentedToken | None) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        return introspection_payload(token.row, token.kind, container().now())


def introspection_payload(row: TokenView, kind: str, now: dt.datetime) -> dict[str, Any]:
    """RFC 7662 §2.2 answer for a token the asking client owns."""
    active = is_refresh_active(row, now) if kind == "refresh_token" else is_access_active(row, now)
    if not active:
        return {"active": False}
    config = container().config
    settings = container().settings
    expires = row.refresh_expires_at if kind == "refresh_token" else row.access_expires_at
    assert expires is not None  # noqa: S101 - an active refresh token has an expiry
    payload: dict[str, Any] = {
        "active": True,
        "client_id": row.client_id,
        "scope": row.scope,
        "iss": settings.site.issuer,
        "aud": row.client_id,
        "iat": int(row.issued_at.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if kind == "access_token":
        payload["token_type"] = "Bearer"  # noqa: S105 - a token type, not a secret
    if row.patron is not None:
        payload["sub"] = subject_for(row.patron.as_patron(), row.client, config["SECRET_KEY"])
    return payload


class EndSessionEndpoint(_EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: ends the server-side session of this browser."""

    def get_server_jwks(self) -> KeySet:
        return container().keys.public_keyset()

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def end_session(self, end_session_request: Any) -> None:
        end_browser_session(
            session, ip=flask_request.remote_addr, user_agent=flask_request.user_agent.string
        )


class BearerTokenValidator(_BearerTokenValidator):  # type: ignore[misc]
    """Validates access tokens for userinfo and the card APIs."""

    def authenticate_token(self, token_string: str) -> TokenView | None:
        view = load_access_token(db.session.connection(), token_hash(token_string))
        return view if view is not None and attach_client(view) else None

    def validate_token(self, token: TokenView | None, scopes: Any, request: Any) -> None:
        refusal = bearer_refusal(token, container().now(), scopes)
        if refusal == "insufficient_scope":
            raise InsufficientScopeError()
        if refusal is not None:
            raise InvalidTokenError(realm=self.realm)
