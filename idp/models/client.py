"""Client: a registered relying party (SPEC §2), loaded from ``clients/*.toml``."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749 import scope_to_list
from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import event
from sqlalchemy import false as sa_false
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow

PUBLIC_AUTH_METHOD = "none"
SECRET_HASH_PREFIX = "sha256:"  # noqa: S105 - a format tag, not a secret


def hash_client_secret(secret: str) -> str:
    """Hash a client secret for storage.

    Client secrets are long random values (at least 32 characters, checked when clients
    are synced), not passwords people choose, so one SHA-256 round is enough and keeps the
    token endpoint fast; patron passwords use Argon2id.
    """
    return SECRET_HASH_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


class Client(db.Model, ClientMixin):  # type: ignore[name-defined,misc]
    """A relying party and its per-client policy."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    client_secret_hash: Mapped[str | None] = mapped_column(String(255))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    #: ``change``: send the patron to the password-change form; ``deny``: refuse.
    temporary_password_policy: Mapped[str] = mapped_column(String(16), default="deny")
    subject_type: Mapped[str] = mapped_column(String(16), default="public")
    #: Pairwise sector: the host of the redirect URIs (OIDC Core §8.1).
    sector_identifier: Mapped[str] = mapped_column(String(255), default="")
    is_first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(1000))
    #: Client file ``backchannel_logout_allow_private``: the back-channel URI may be on a
    #: loopback, private or link-local address (idp/services/destinations.py).
    backchannel_logout_allow_private: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The client accepts only sign-ins with a passkey (client file ``require_passkey``).
    require_passkey: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    #: Raised by every change of the registration (sync, enable, disable); the token
    #: paths read it with the token, so a change is seen on the next request everywhere.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    #: OIDC Registration §2: how this client's ID tokens are signed (RS256, ES256, EdDSA).
    id_token_signed_response_alg: Mapped[str] = mapped_column(
        String(16), default="RS256", server_default=text("'RS256'")
    )
    #: The credential-check API's allowance (client file ``checks_per_minute`` and
    #: ``failures_per_day``): its checks count against the client instead of its server's
    #: address. None: the per-address limits (``IDP_THROTTLE_IP_*``).
    checks_per_minute: Mapped[int | None] = mapped_column(Integer)
    failures_per_day: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # --- Authlib ClientMixin ---------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # RFC 9700 §2.1: no default; the request must name a registered URI exactly.
        if len(self.redirect_uris) == 1:
            return self.redirect_uris[0]
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 9700 §4.1.1), no pattern or prefix matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.client_secret_hash
        if not stored or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(stored, hash_client_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        # Revocation and introspection accept any secret-based method of a
        # confidential client; public clients may revoke their own tokens.
        if self.token_endpoint_auth_method == PUBLIC_AUTH_METHOD:
            return method == "none"
        return method in {"client_secret_basic", "client_secret_post"}

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # --- our own ---------------------------------------------------------------------
    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == PUBLIC_AUTH_METHOD

    @property
    def client_metadata(self) -> dict[str, Any]:
        """The subset of registration metadata Authlib's endpoints read."""
        return {
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "backchannel_logout_uri": self.backchannel_logout_uri,
        }

    def sector_of(self) -> str:
        """The pairwise sector: the common host of the redirect URIs."""
        if self.sector_identifier:
            return self.sector_identifier
        hosts = {urlsplit(uri).hostname or "" for uri in self.redirect_uris}
        return sorted(hosts)[0] if hosts else self.client_id

    def __repr__(self) -> str:
        return f"<Client {self.client_id}>"


@event.listens_for(Client, "before_update")
def _raise_version(mapper: Any, connection: Any, target: Client) -> None:
    """Every change of a registration raises its version, in the same UPDATE: the token
    paths compare it with their in-process copy (:class:`idp.oauth.hot.ClientRegistry`)."""
    target.version = Client.version + 1
