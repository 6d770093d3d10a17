"""Token: an access token and, under ``offline_access``, its refresh token (hashes only)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from authlib.oauth2.rfc6749 import TokenMixin
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.extensions import db
from idp.models.types import UTCDateTime
from idp.models.types import utcnow

if TYPE_CHECKING:
    from idp.models.client import Client
    from idp.models.patron import Patron


class _TokenFields(Protocol):
    client_id: str
    scope: str
    issued_at: dt.datetime
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def client(self) -> Client: ...


class TokenAccessors(TokenMixin):  # type: ignore[misc]
    """Authlib's token interface and the refresh rule, read from the row's fields:
    shared by the model and the token paths' plain view of a token
    (:class:`idp.oauth.hot.TokenView`). ``is_expired`` and ``get_user`` stay with each:
    the model's clock is the wall clock, the view's the application's."""

    def check_client(self: _TokenFields, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self: _TokenFields) -> str:
        return self.scope

    def get_expires_in(self: _TokenFields) -> int:
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_expired_at(self: _TokenFields, now: dt.datetime) -> bool:
        """Whether the access token has expired at ``now``."""
        return now >= self.access_expires_at

    def is_revoked(self: _TokenFields) -> bool:
        return self.revoked_at is not None

    def get_client(self: _TokenFields) -> Client:
        return self.client

    def is_refresh_usable(self: _TokenFields, now: dt.datetime) -> bool:
        """The refresh token is neither revoked, rotated nor expired."""
        return (
            self.revoked_at is None
            and self.rotated_at is None
            and self.refresh_expires_at is not None
            and now < self.refresh_expires_at
        )


def kept_until(
    access_expires_at: dt.datetime, refresh_expires_at: dt.datetime | None
) -> dt.datetime:
    """Until when a token row is kept: the later of its two expiries. A rotated or
    revoked refresh token is kept until it would have expired, so that presenting it
    again is still recognised as reuse (RFC 9700 §4.14.2)."""
    if refresh_expires_at is None:
        return access_expires_at
    return max(access_expires_at, refresh_expires_at)


def _kept_until(context: Any) -> dt.datetime:
    """The column default of an ORM insert (the token paths name the value)."""
    values = context.get_current_parameters()
    return kept_until(values["access_expires_at"], values.get("refresh_expires_at"))


class Token(db.Model, TokenAccessors):  # type: ignore[name-defined,misc]
    """One issued token pair. All tokens from one code share a ``family_id``."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    patron_id: Mapped[int | None] = mapped_column(
        ForeignKey("patrons.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text, default="")
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: Grant family: the code redemption and every rotation that follows it.
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    sid: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The later of the two expiries; ``idp purge`` deletes the row after it. One index
    #: for the purge instead of one per expiry: every index is written by every issue.
    kept_until: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_kept_until, index=True)
    #: Set when the refresh token was exchanged; using it again is reuse (RFC 9700 §4.14.2).
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The token whose refresh token was exchanged for this one (None: from a code).
    #: Not indexed: it is looked up within its family (``family_id`` is).
    parent_id: Mapped[int | None] = mapped_column(Integer)
    #: Set when the rotated refresh token was accepted once more within the retry grace
    #: (``IDP_REFRESH_REUSE_GRACE``): a second retry is reuse.
    reused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship(lazy="joined")
    patron: Mapped[Patron | None] = relationship(lazy="joined")

    def is_expired(self) -> bool:
        # Authlib's interface, by the wall clock; idp's own checks use is_expired_at with
        # the application's clock (which tests move), as the bearer validator does.
        return self.is_expired_at(utcnow())

    def get_user(self) -> Patron | None:
        return self.patron

    def is_refresh_usable(self, now: dt.datetime) -> bool:
        """The refresh token is neither revoked, rotated nor expired."""
        return self.refresh_token_hash is not None and TokenAccessors.is_refresh_usable(self, now)
