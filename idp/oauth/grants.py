"""Grant types: storage hooks for Authlib's code, refresh and client-credentials grants.

Single use is enforced with atomic conditional updates, so that two simultaneous
redemptions of one code or one refresh token give exactly one success (RFC 6749 §4.1.2,
RFC 9700 §4.14.2), on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oidc.core.grants.util import is_openid_scope
from flask import request as flask_request

from idp.extensions import db
from idp.models.authorization_code import AuthorizationCode
from idp.models.client import Client
from idp.oauth.authorization import code_values
from idp.oauth.authorization import new_code
from idp.oauth.claims import claim_code
from idp.oauth.claims import claim_for_refresh
from idp.oauth.claims import end_family_after_lost_claim
from idp.oauth.hot import CodeView
from idp.oauth.hot import PatronView
from idp.oauth.hot import TokenView
from idp.oauth.hot import attach_client
from idp.oauth.hot import load_code
from idp.oauth.hot import load_refresh_token
from idp.oauth.tokens import revoke_family
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.container import container
from idp.services.signin import refusal_reason

#: Client authentication methods the token endpoint accepts (``none``: public + PKCE).
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


@dataclass(frozen=True)
class BrowserLogin:
    """The browser session an authorization code is issued to."""

    sid: str | None
    auth_time: int | None
    amr: Any


def _family_of_code(code_id: int) -> str:
    return f"code-{code_id}"


# --- the rules of the token endpoint, shared by the Authlib grants and the fast path --


def receiving_patron(patron: PatronView | None, now: dt.datetime) -> PatronView:
    """The patron a grant is for, if they may still receive tokens (SPEC §1).

    :raises InvalidGrantError: the patron is gone or may not sign in now.
    """
    if patron is None or refusal_reason(patron.as_patron(), now) is not None:
        raise InvalidGrantError("The patron may not sign in at this time.")
    return patron


def code_is_redeemable(code: CodeView, client_id: str, now: dt.datetime) -> bool:
    """The code belongs to the client, whose registration is enabled, was never used
    and has not expired (RFC 6749 §4.1.3)."""
    return (
        code.client_id == client_id
        and code.client_enabled
        and code.used_at is None
        and now < code.expires_at
    )


def pkce_matches(code: CodeView, verifier: str | None) -> bool:
    """RFC 7636 §4.6 with S256, the only method this provider accepts."""
    return (
        bool(verifier)
        and bool(code.code_challenge)
        and code.code_challenge_method == "S256"
        and CODE_VERIFIER_PATTERN.match(verifier or "") is not None
        and bool(compare_s256_code_challenge(verifier, code.code_challenge))
    )


def refresh_is_redeemable(token: TokenView, client_id: str, now: dt.datetime, grace: int) -> bool:
    """The refresh token belongs to the client, whose registration is enabled, and is
    live — or a rotated one within the retry grace (:func:`within_retry_grace`)."""
    if token.client_id != client_id or not token.client_enabled or token.revoked_at is not None:
        return False
    if token.rotated_at is not None:
        return within_retry_grace(token, now, grace)
    return token.is_refresh_usable(now)


def within_retry_grace(row: TokenView, now: dt.datetime, grace: int) -> bool:
    """A rotated refresh token presented again soon enough, for the first time, to be
    a client's retry after a lost answer (RFC 9700 §4.14.2 leaves the reuse interval to
    the server; the successor's non-use is checked by :func:`claim_retry`)."""
    return (
        grace > 0
        and row.rotated_at is not None
        and row.reused_at is None
        and row.refresh_expires_at is not None
        and now < row.refresh_expires_at
        and now - row.rotated_at <= dt.timedelta(seconds=grace)
    )


def _audit(event: str, **detail: Any) -> None:
    audit.record_in(
        db.session.connection(),
        event,
        ip=flask_request.remote_addr,
        user_agent=flask_request.user_agent.string,
        **detail,
    )


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Code grant; PKCE and OpenID Connect are attached as extensions."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request: Any, client: Client) -> str:
        """The request's registered ``redirect_uri`` (exact match), else an error page.

        Authlib quotes an unregistered value into ``error_description``, and its error
        class refuses the characters RFC 6749 §4.1.2.1 bans there (``"``, ``\\``, non-ASCII)
        with a ValueError: the value is never quoted here. OpenID Connect requests must
        name the URI (OIDC Core §3.1.2.1); plain OAuth may omit it for a client with one.
        """
        requested = request.payload.redirect_uri
        if requested:
            if not client.check_redirect_uri(requested):
                raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
            return str(requested)
        if is_openid_scope(request.payload.scope):
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        uri: str = grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(
            request, client
        )
        return uri

    def generate_authorization_code(self) -> str:
        return new_code()

    def save_authorization_code(self, code: str, request: Any) -> None:
        # Set by create_validated_authorization_response, from the authorize view.
        login: BrowserLogin = request.idp_login
        values = code_values(
            code,
            client_id=request.client.client_id,
            patron_id=request.user.id,
            data=request.payload.data,
            scope=request.scope,
            login=(login.sid, login.auth_time, login.amr),
            now=container().now(),
            ttl=container().settings.tokens.code_ttl,
        )
        db.session.add(AuthorizationCode(**values))
        # Not committed here: the authorize view commits the code together with its
        # audit event and the session's client list, in one transaction, before the
        # redirect that carries the code is sent.

    def query_authorization_code(self, code: str, client: Client) -> CodeView | None:
        row = load_code(db.session.connection(), token_hash(code))
        if row is None or row.client_id != client.client_id:
            return None
        now = container().now()
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice MUST be refused and SHOULD revoke the
            # tokens issued from it.
            revoke_family(_family_of_code(row.id), now)
            _audit("code.reused", patron_id=row.patron_id, client_id=client.client_id)
            return None
        if not code_is_redeemable(row, client.client_id, now):
            return None
        return row

    def delete_authorization_code(self, authorization_code: CodeView) -> None:
        # Claim the code atomically; the tokens saved just before are committed (by the
        # request's unit of work, after the answer is built) only with a successful claim.
        now = container().now()
        if not claim_code(db.session.connection(), authorization_code.id, now):
            end_family_after_lost_claim(_family_of_code(authorization_code.id), None)
            raise InvalidGrantError("Invalid 'code' in request.")
        _audit(
            "token.issued",
            patron_id=authorization_code.patron_id,
            client_id=authorization_code.client_id,
            grant="authorization_code",
        )

    def authenticate_user(self, authorization_code: CodeView) -> PatronView:
        return receiving_patron(authorization_code.patron, container().now())


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """Refresh grant with rotation and reuse detection (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenView | None:
        row = load_refresh_token(db.session.connection(), token_hash(refresh_token))
        if row is None or row.revoked_at is not None or not attach_client(row):
            return None
        now = container().now()
        grace = container().settings.tokens.refresh_reuse_grace
        if row.rotated_at is not None and not within_retry_grace(row, now, grace):
            # A refresh token that was already exchanged is being replayed: one of the
            # two holders is an attacker, so the whole family is revoked.
            revoke_family(row.family_id, now)
            _audit("refresh.reused", patron_id=row.patron_id, client_id=row.client_id)
            return None
        # A rotated one that gets past here is possibly a retry after the answer to the
        # rotation was lost: accepted once, if the token it was exchanged for was never
        # used (checked atomically in revoke_old_credential).
        if not refresh_is_redeemable(row, row.client_id, now, grace):
            return None
        return row

    def authenticate_user(self, refresh_token: TokenView) -> PatronView:
        return receiving_patron(refresh_token.patron, container().now())

    def save_token(self, token: dict[str, Any]) -> None:
        # The claim runs first: a retry's claim must not see the pair stored now.
        if not claim_for_refresh(
            db.session.connection(), self.request.refresh_token, container().now()
        ):
            self._lost_claim()
        super().save_token(token)

    def _lost_claim(self) -> None:
        old: TokenView = self.request.refresh_token
        end_family_after_lost_claim(
            old.family_id,
            "refresh.reused" if old.rotated_at is not None else None,
            patron_id=old.patron_id,
            client_id=old.client_id,
        )
        raise InvalidGrantError()

    def revoke_old_credential(self, refresh_token: TokenView) -> None:
        if refresh_token.rotated_at is not None:
            _audit(
                "refresh.retried",
                patron_id=refresh_token.patron_id,
                client_id=refresh_token.client_id,
            )
        _audit(
            "token.issued",
            patron_id=refresh_token.patron_id,
            client_id=refresh_token.client_id,
            grant="refresh_token",
        )


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials, for machine clients such as the circulation desk."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def generate_token(self, user: Any = None, scope: str | None = None, **kwargs: Any) -> Any:
        # Authlib hands the requested scope on as it is; a client gets only the scopes
        # its registration lists (``patron:authenticate`` is off by default).
        allowed = self.request.client.get_allowed_scope(scope)
        return super().generate_token(user=user, scope=allowed, **kwargs)

    def save_token(self, token: dict[str, Any]) -> None:
        super().save_token(token)
        _audit("token.issued", client_id=self.request.client.client_id, grant="client_credentials")


def family_for(request: Any) -> tuple[str, str | None, int | None]:
    """The grant family, session id and parent token of a new token."""
    code = getattr(request, "authorization_code", None)
    if code is not None:
        return _family_of_code(code.id), code.sid, None
    device = getattr(request, "credential", None)
    if device is not None:
        return f"device-{device.id}", device.sid, None
    old = getattr(request, "refresh_token", None)
    if old is not None:
        return old.family_id, old.sid, old.id
    return f"cc-{secrets.token_hex(8)}", None, None
