"""The authorization server: grants, extensions and endpoints wired together.

:func:`configure_oauth` builds one server per application (Authlib keeps registered
grants on the server object) and stores it in ``app.extensions["idp"]``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask

from idp.extensions import db
from idp.models.client import Client
from idp.oauth.claims import store_token
from idp.oauth.claims import token_row
from idp.oauth.device import DeviceAuthorizationEndpoint
from idp.oauth.device import DeviceCodeGrant
from idp.oauth.endpoints import BearerTokenValidator
from idp.oauth.endpoints import EndSessionEndpoint
from idp.oauth.endpoints import IntrospectionEndpoint
from idp.oauth.endpoints import RevocationEndpoint
from idp.oauth.grants import AuthorizationCodeGrant
from idp.oauth.grants import BrowserLogin
from idp.oauth.grants import ClientCredentialsGrant
from idp.oauth.grants import RefreshTokenGrant
from idp.oauth.grants import family_for
from idp.oauth.hot import client_registry
from idp.oauth.hot import client_state
from idp.oauth.oidc import OpenIDCode
from idp.oauth.oidc import S256CodeChallenge
from idp.oauth.tokens import generate_bearer_token
from idp.settings import Settings


def registered_client(client_id: str, *, enabled_only: bool = False) -> Client | None:
    """The client registered with this id (with ``enabled_only``: if enabled), or None:
    the registration from the process's registry, checked against the version in the
    database (every change of a registration raises it). A shared instance: read it,
    never change it."""
    if not isinstance(client_id, str) or len(client_id) > 64:
        return None
    state = client_state(db.session.connection(), client_id)
    if state is None or (enabled_only and not state[0]):
        return None
    client = client_registry().get(client_id, state[1])
    if client is None or (enabled_only and not client.is_enabled):
        return None
    return client


def query_client(client_id: str) -> Client | None:
    """The enabled client with this id, or None (Authlib's lookup)."""
    return registered_client(client_id, enabled_only=True)


def save_token(token: dict[str, Any], request: Any) -> None:
    """Store a new token pair as hashes; the request commits it after the grant's claim."""
    from idp.services.container import container

    row = token_row(
        token,
        client_id=request.client.client_id,
        patron_id=request.user.id if request.user is not None else None,
        family=family_for(request),
        now=container().now(),
        refresh_ttl=container().settings.tokens.refresh_token_ttl,
    )
    store_token(db.session.connection(), row)


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

    def create_validated_authorization_response(
        self, grant: Any, grant_user: Any, login: BrowserLogin
    ) -> Any:
        """The authorization response of a request :meth:`get_consent_grant` validated.

        Authlib's ``create_authorization_response`` validates the request again (the
        client lookup, the nonce check, every parameter); this is the rest of it, once.

        :param login: the browser session the code is issued to (kept with the code).
        """
        grant.request.idp_login = login
        try:
            args = grant.create_authorization_response(grant.redirect_uri, grant_user)
            response = self.handle_response(*args)
        except OAuth2Error as error:
            error.state = grant.request.payload.state
            response = self.handle_error_response(grant.request, error)
        grant.execute_hook("after_authorization_response", response)
        # What Authlib's own method runs after it (RFC 9207 ``iss``, as an extension).
        self.execute_hook("after_create_authorization_response", response)
        return response

    def authenticate_client(self, request: Any, methods: list[str], endpoint: str = "token") -> Any:
        # Authlib decodes Basic credentials as UTF-8 without catching the error: answer
        # bytes that are not text as a failed client authentication, not a 500.
        if not _is_readable_basic(request.headers.get("Authorization")):
            raise InvalidClientError(status_code=401)
        return super().authenticate_client(request, methods, endpoint)

    def get_authorization_grant(self, request: Any) -> Any:
        # Authlib quotes an unknown response_type into error_description and refuses, with
        # a ValueError, the characters RFC 6749 §4.1.2.1 bans there: refuse such a value
        # first, without quoting it.
        if invalid_error_characters(str(request.payload.response_type or "")):
            raise InvalidRequestError("Invalid 'response_type' parameter.")
        return super().get_authorization_grant(request)


class IssuerInResponse(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` in every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def configure_oauth(
    app: Flask, settings: Settings
) -> tuple[LibraryAuthorizationServer, ResourceProtector]:
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
    server.register_extension(IssuerInResponse(settings.site.issuer))
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    server.register_endpoint(DeviceAuthorizationEndpoint)
    protector = ResourceProtector()
    protector.register_token_validator(BearerTokenValidator())
    return server, protector
