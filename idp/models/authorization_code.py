"""Authorization code: single-use, short-lived, stored only as a hash (RFC 6749 §4.1.2)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from typing import Protocol

from authlib.oidc.core import AuthorizationCodeMixin
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.extensions import db
from idp.models.types import UTCDateTime

if TYPE_CHECKING:
    from idp.models.patron import Patron

#: ``acr`` by sign-in method: a passkey is phishing-resistant (OpenID EAP ACR Values
#: ``phr``), and hardware-protected when it is bound to its authenticator (``phrh``).
#: A password sign-in has no ``acr``.
ACR_BY_AMR = {"hwk": "phrh", "swk": "phr"}


class _CodeFields(Protocol):
    redirect_uri: str
    scope: str
    nonce: str | None
    auth_time: int
    amr: str | None


class CodeAccessors(AuthorizationCodeMixin):  # type: ignore[misc]
    """Authlib's code interface, read from the row's fields: shared by the model and
    the token paths' plain view of a code (:class:`idp.oauth.hot.CodeView`)."""

    def get_redirect_uri(self: _CodeFields) -> str:
        return self.redirect_uri

    def get_scope(self: _CodeFields) -> str:
        return self.scope

    def get_nonce(self: _CodeFields) -> str | None:
        return self.nonce

    def get_auth_time(self: _CodeFields) -> int:
        return self.auth_time

    def get_acr(self: _CodeFields) -> str | None:
        return ACR_BY_AMR.get(self.amr or "pwd")

    def get_amr(self: _CodeFields) -> list[str]:
        return [self.amr or "pwd"]


class AuthorizationCode(db.Model, CodeAccessors):  # type: ignore[name-defined,misc]
    """One authorization code. ``used_at`` makes redemption single-use."""

    __tablename__ = "authorization_codes"
    #: ``exists_nonce`` looks a nonce up per client on every authentication request (the
    #: index also serves lookups by ``client_id`` alone).
    __table_args__ = (Index("ix_authorization_codes_client_id_nonce", "client_id", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    patron_id: Mapped[int] = mapped_column(ForeignKey("patrons.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    auth_time: Mapped[int] = mapped_column(Integer)
    #: Public id of the login session, for the ``sid`` claim (Back-Channel Logout §2.4).
    sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: RFC 8176 method of the sign-in behind the code: ``hwk``/``swk`` (a passkey), or
    #: None for the password.
    amr: Mapped[str | None] = mapped_column(String(8))

    #: Loaded with the code by the token endpoint (one query instead of two); never
    #: loaded on its own, so that an extra query cannot creep in unnoticed.
    patron: Mapped[Patron] = relationship(lazy="raise_on_sql", viewonly=True)
