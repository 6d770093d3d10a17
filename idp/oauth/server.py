"""The authorization server: grants, extensions and endpoints wired together.

:func:`configure_oauth` builds one server per application (Authlib keeps registered
grants on the server object) and stores it in ``app.extensions["idp"]``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask
from sqlalchemy import bindparam
from sqlalchemy import select

from idp.extensions import db
from idp.models.client import Client
from idp.models.token import Token
from idp.oauth.device import DeviceAuthorizationEndpoint
from idp.oauth.device import DeviceCodeGrant
from idp.oauth.endpoints import BearerTokenValidator
from idp.oauth.endpoints import EndSessionEndpoint
from idp.oauth.endpoints import IntrospectionEndpoint
from idp.oauth.endpoints import RevocationEndpoint
from idp.oauth.grants import AuthorizationCodeGrant
from idp.oauth.grants import ClientCredentialsGrant
from idp.oauth.grants import RefreshTokenGrant
from idp.oauth.grants import family_for
from idp.oauth.oidc import OpenIDCode
from idp.oauth.oidc import S256CodeChallenge
from idp.oauth.tokens import generate_bearer_token
from idp.oauth.tokens import token_hash

#: Built once (the statement is the same for every request).
_ENABLED_CLIENT = select(Client).where(
    Client.client_id == bindparam("client_id"), Client.is_enabled.is_(True)
)


def query_client(client_id: str) -> Client | None:
    """The enabled client with this id, or None."""
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    client: Client | None = db.session.scalar(_ENABLED_CLIENT, {"client_id": client_id})
    return client


def save_token(token: dict[str, Any], request: Any) -> None:
    """Store a new token pair as hashes. The grant commits (after its single-use claim)."""
    from idp.context import services

    now = services().now()
    config = services().config
    family_id, sid = family_for(request)
    refresh = token.get("refresh_token")
    db.session.add(
        Token(
            client_id=request.client.client_id,
            patron_id=request.user.id if request.user is not None else None,
            scope=token.get("scope", ""),
            access_token_hash=token_hash(token["access_token"]),
            refresh_token_hash=token_hash(refresh) if refresh else None,
            family_id=family_id,
            sid=sid,
            issued_at=now,
            access_expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
            refresh_expires_at=(
                now + dt.timedelta(seconds=int(config["IDP_REFRESH_TOKEN_TTL"]))
                if refresh
                else None
            ),
        )
    )


def _is_readable_basic(header: str | None) -> bool:
    """False for an HTTP Basic header whose credentials are not base64 of UTF-8 text."""
    if not header or " " not in header:
        return True
    scheme, credentials = header.split(None, 1)
    if scheme.lower() != "basic":
        return True
    try:
        base64.b64decode(credentials).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return True


class LibraryAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's Flask server, bound to our models."""

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        # Authlib decodes Basic credentials as UTF-8 without catching the error: answer
        # bytes that are not text as a failed client authentication, not a 500.
        if not _is_readable_basic(request.headers.get("Authorization")):
            raise InvalidClientError(status_code=401)
        return super().authenticate_client(request, methods, endpoint)


class IssuerInResponse(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` in every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def configure_oauth(app: Flask) -> tuple[LibraryAuthorizationServer, ResourceProtector]:
    """Build the authorization server and resource protector for ``app``."""
    server = LibraryAuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", generate_bearer_token)
    server.register_grant(
        AuthorizationCodeGrant,
        [S256CodeChallenge(required=True), OpenIDCode(require_nonce=False)],
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(DeviceCodeGrant)
    server.register_extension(IssuerInResponse(app.config["IDP_ISSUER"]))
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    server.register_endpoint(DeviceAuthorizationEndpoint)
    protector = ResourceProtector()
    protector.register_token_validator(BearerTokenValidator())
    return server, protector
