"""Token endpoints around the grants: revocation (RFC 7009), introspection (RFC 7662),
RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), bearer validation (RFC 6750).
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from authlib.oauth2.rfc6750 import BearerTokenValidator as _BearerTokenValidator
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import request as flask_request
from flask import session
from joserfc.jwk import KeySet

from idp.context import services
from idp.extensions import db
from idp.models.client import Client
from idp.models.token import Token
from idp.oauth.tokens import find_access_token
from idp.oauth.tokens import find_token
from idp.oauth.tokens import revoke_family
from idp.services import audit
from idp.services.logout import end_browser_session
from idp.services.signin import refusal_reason
from idp.services.subjects import subject_for

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post"]


class RevocationEndpoint(_RevocationEndpoint):  # type: ignore[misc]
    """Revoking either token of a pair revokes its whole grant family."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [*CONFIDENTIAL_METHODS, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Any) -> None:
        revoke_family(token.family_id, services().now())
        audit.record(
            "token.revoked",
            patron_id=token.patron_id,
            client_id=token.client_id,
            ip=flask_request.remote_addr,
            user_agent=flask_request.user_agent.string,
        )
        db.session.commit()


class IntrospectionEndpoint(_IntrospectionEndpoint):  # type: ignore[misc]
    """A confidential client may introspect the tokens issued to itself."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = CONFIDENTIAL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Any) -> bool:
        return token.client_id == client.client_id

    def introspect_token(self, token: Token) -> dict[str, Any]:
        config = services().config
        patron = token.patron
        if patron is not None and refusal_reason(patron, services().now()) is not None:
            return {"active": False}
        payload: dict[str, Any] = {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "token_type": "Bearer",
            "iss": config["IDP_ISSUER"],
            "aud": token.client_id,
            "iat": int(token.issued_at.timestamp()),
            "exp": int(token.access_expires_at.timestamp()),
        }
        if patron is not None:
            payload["sub"] = subject_for(patron, token.client, config["SECRET_KEY"])
        return payload


class EndSessionEndpoint(_EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: ends the server-side session of this browser."""

    def get_server_jwks(self) -> KeySet:
        return services().keys.public_keyset()

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def end_session(self, end_session_request: Any) -> None:
        end_browser_session(session)


class BearerTokenValidator(_BearerTokenValidator):  # type: ignore[misc]
    """Validates access tokens for userinfo and the card APIs."""

    def authenticate_token(self, token_string: str) -> Token | None:
        return find_access_token(token_string)

    def validate_token(self, token: Token, scopes: Any, request: Any) -> None:
        super().validate_token(token, scopes, request)
        patron = token.patron
        if patron is not None and refusal_reason(patron, services().now()) is not None:
            raise InvalidTokenError(realm=self.realm)
