"""OpenID Connect: the ID token (OIDC Core §2, §3.1.3.6) and claims per scope (§5.4)."""

from __future__ import annotations

import time
import warnings
from typing import Any
from typing import ClassVar

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import RSAKey

from idp.extensions import db
from idp.models.authorization_code import AuthorizationCode
from idp.models.client import Client
from idp.oauth.authorization import nonce_seen
from idp.oauth.hot import CodeView
from idp.oauth.hot import PatronView
from idp.services.accounts.subjects import subject_for
from idp.services.container import container
from idp.services.keys import SIGNING_ALG


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only: ``plain`` is refused (RFC 9700 §2.1.1)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        # SPEC §3 and RFC 9700 §2.1.1: PKCE for every client, confidential ones too.
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge'.")
        if data.get("code_challenge_method", "plain") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': use S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge or ""

    def get_authorization_code_challenge_method(
        self, authorization_code: AuthorizationCode
    ) -> str | None:
        return authorization_code.code_challenge_method


class OpenIDCode(_OpenIDCode):  # type: ignore[misc]
    """Adds the ID token to the code grant's token response."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # A nonce seen before with the same client is a replayed authentication request.
        return nonce_seen(db.session.connection(), request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return container().keys.active_key()

    def get_client_algorithm(self, client: Client) -> str:
        return SIGNING_ALG

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": SIGNING_ALG, "kid": str(container().keys.active_key().kid)}

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        return id_token_for(
            request.authorization_code, request.client, request.user, token["access_token"]
        )

    def generate_user_info(self, user: PatronView, scope: str) -> UserInfo:  # pragma: no cover
        raise NotImplementedError("id_token_for builds the claims")


def id_token_for(code: CodeView, client: Client, patron: PatronView, access_token: str) -> str:
    """The ID token of a code exchange (OIDC Core §2, §3.1.3.6), signed with the active
    key. The token endpoint's only implementation, for the Authlib grant and the fast
    path alike.

    It carries ``sub`` and the protocol claims (``auth_time``, ``nonce``, ``amr``,
    ``sid``, ``at_hash``); scoped claims come from userinfo, so that they never sit in
    browser-visible tokens longer than needed.
    """
    config = container().config
    settings = container().settings
    alg = client.id_token_signed_response_alg or SIGNING_ALG
    key = container().keys.active_key_for(alg)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.site.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + settings.tokens.id_token_ttl,
    }
    if code.nonce:
        claims["nonce"] = code.nonce
    if code.auth_time:
        claims["auth_time"] = code.auth_time
    claims["amr"] = code.get_amr()
    if acr := code.get_acr():
        claims["acr"] = acr
    if code.sid:
        claims["sid"] = code.sid
    claims["at_hash"] = create_half_hash(access_token, alg).decode()
    claims["sub"] = subject_for(patron.as_patron(), client, config["SECRET_KEY"])
    header = {"alg": alg, "kid": str(key.kid)}
    if alg != "EdDSA":
        return jwt.encode(header, claims, key, algorithms=[alg])
    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as superseded by RFC 9864's "Ed25519"; relying parties
        # ask for and verify "EdDSA" (OIDC Registration), so that is the name we sign.
        # (Only here: entering catch_warnings resets the warnings cache of every module.)
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode(header, claims, key, algorithms=[alg])
