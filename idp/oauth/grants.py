"""Grant types: storage hooks for Authlib's code, refresh and client-credentials grants.

Single use is enforced with atomic conditional updates, so that two simultaneous
redemptions of one code or one refresh token give exactly one success (RFC 6749 §4.1.2,
RFC 9700 §4.14.2), on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from typing import ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import grants
from flask import g
from flask import request as flask_request
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import joinedload

from idp.context import services
from idp.extensions import db
from idp.models.authorization_code import AuthorizationCode
from idp.models.client import Client
from idp.models.patron import Patron
from idp.models.token import Token
from idp.oauth.tokens import revoke_family
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.signin import refusal_reason

#: Client authentication methods the token endpoint accepts (``none``: public + PKCE).
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def _family_of_code(code_id: int) -> str:
    return f"code-{code_id}"


def signed_in_patron(patron_id: int | None) -> Patron:
    """The patron a grant is for, if they may still receive tokens."""
    patron = db.session.get(Patron, patron_id) if patron_id is not None else None
    if patron is None or refusal_reason(patron, services().now()) is not None:
        raise InvalidGrantError("The patron may not sign in at this time.")
    return patron


def _audit(event: str, **detail: Any) -> None:
    audit.record(
        event,
        ip=flask_request.remote_addr,
        user_agent=flask_request.user_agent.string,
        **detail,
    )


# Built once: the token endpoint's lookups skip statement construction per request.
# The code's patron comes in the same query: the exchange needs it (its status, its
# claims) a moment later, and ``session.get`` then finds it without a round trip.
_CODE_BY_HASH = (
    select(AuthorizationCode)
    .options(joinedload(AuthorizationCode.patron))
    .where(AuthorizationCode.code_hash == bindparam("digest"))
)
_REFRESH_BY_HASH = select(Token).where(Token.refresh_token_hash == bindparam("digest"))


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Code grant; PKCE and OpenID Connect are attached as extensions."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        now = services().now()
        login = g.idp_login  # set by the authorize view: (sid, auth_time, amr)
        payload = request.payload
        db.session.add(
            AuthorizationCode(
                code_hash=token_hash(code),
                client_id=request.client.client_id,
                patron_id=request.user.id,
                redirect_uri=payload.redirect_uri,
                scope=request.scope,
                nonce=payload.data.get("nonce"),
                code_challenge=payload.data.get("code_challenge"),
                code_challenge_method=payload.data.get("code_challenge_method"),
                auth_time=login[1],
                sid=login[0],
                amr=login[2],
                created_at=now,
                expires_at=now + dt.timedelta(seconds=services().config["IDP_CODE_TTL"]),
            )
        )
        # Not committed here: the authorize view commits the code together with its
        # audit event and the session's client list, in one transaction, before the
        # redirect that carries the code is sent.

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        row: AuthorizationCode | None = db.session.scalar(
            _CODE_BY_HASH, {"digest": token_hash(code)}
        )
        if row is None or row.client_id != client.client_id:
            return None
        now = services().now()
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice MUST be refused and SHOULD revoke the
            # tokens issued from it.
            revoke_family(_family_of_code(row.id), now)
            _audit("code.reused", patron_id=row.patron_id, client_id=client.client_id)
            db.session.commit()
            return None
        if now >= row.expires_at:
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Claim the code atomically; the tokens saved just before are committed only
        # with a successful claim.
        now = services().now()
        claimed = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == authorization_code.id)
            .where(AuthorizationCode.used_at.is_(None))
            .values(used_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            db.session.rollback()
            revoke_family(_family_of_code(authorization_code.id), now)
            db.session.commit()
            raise InvalidGrantError("Invalid 'code' in request.")
        _audit(
            "token.issued",
            patron_id=authorization_code.patron_id,
            client_id=authorization_code.client_id,
            grant="authorization_code",
        )
        db.session.commit()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Patron:
        return signed_in_patron(authorization_code.patron_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """Refresh grant with rotation and reuse detection (RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        row: Token | None = db.session.scalar(
            _REFRESH_BY_HASH, {"digest": token_hash(refresh_token)}
        )
        if row is None:
            return None
        now = services().now()
        if row.rotated_at is not None and row.revoked_at is None:
            # A refresh token that was already exchanged is being replayed: one of the
            # two holders is an attacker, so the whole family is revoked.
            revoke_family(row.family_id, now)
            _audit("refresh.reused", patron_id=row.patron_id, client_id=row.client_id)
            db.session.commit()
            return None
        if not row.is_refresh_usable(now):
            return None
        return row

    def authenticate_user(self, refresh_token: Token) -> Patron:
        return signed_in_patron(refresh_token.patron_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        now = services().now()
        claimed = db.session.execute(
            update(Token)
            .where(Token.id == refresh_token.id)
            .where(Token.rotated_at.is_(None), Token.revoked_at.is_(None))
            .values(rotated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            db.session.rollback()
            revoke_family(refresh_token.family_id, now)
            db.session.commit()
            raise InvalidGrantError()
        _audit(
            "token.issued",
            patron_id=refresh_token.patron_id,
            client_id=refresh_token.client_id,
            grant="refresh_token",
        )
        db.session.commit()


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
        db.session.commit()


def family_for(request: Any) -> tuple[str, str | None]:
    """The grant family and session id a new token belongs to."""
    code = getattr(request, "authorization_code", None)
    if code is not None:
        return _family_of_code(code.id), code.sid
    device = getattr(request, "credential", None)
    if device is not None:
        return f"device-{device.id}", device.sid
    old = getattr(request, "refresh_token", None)
    if old is not None:
        return old.family_id, old.sid
    return f"cc-{secrets.token_hex(8)}", None
