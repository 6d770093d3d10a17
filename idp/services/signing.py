"""Signed, time-limited tokens for links in mail (itsdangerous, one salt per purpose).

Each purpose (``email.verify``, ``password.reissue``) signs with its own salt, so a
token made for one purpose is never accepted for another. Library errors are turned
into :class:`TokenExpired` and :class:`TokenInvalid`. Time comes from the services'
clock, so that tests can move it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from itsdangerous import BadData
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer

#: Longest token accepted at all (a link's token is well under 200 characters).
MAX_TOKEN_LENGTH = 1024


class TokenError(ValueError):
    """A signed token cannot be used."""


class TokenMissing(TokenError):
    """No token was given."""


class TokenExpired(TokenError):
    """The token was genuine but is older than its purpose allows."""


class TokenInvalid(TokenError):
    """The token is not one of ours for this purpose (forged, altered, truncated)."""


class TokenService:
    """Signs and checks tokens for one purpose (warehouse's ``TokenService`` shape)."""

    def __init__(
        self,
        secret: str,
        purpose: str,
        max_age: int,
        *,
        clock: Callable[[], dt.datetime],
    ) -> None:
        """
        :param purpose: used as the salt, e.g. ``password.reissue``.
        :param max_age: seconds a token stays valid.
        :param clock: the current time (aware UTC).
        """
        signer = type(
            "ClockSigner",
            (TimestampSigner,),
            {"get_timestamp": lambda _self: int(clock().timestamp())},
        )
        self.purpose = purpose
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(secret, salt=purpose, signer=signer)

    def dumps(self, data: dict[str, Any]) -> str:
        """Sign ``data`` (JSON-serialisable) into a URL-safe token."""
        return str(self._serializer.dumps(data))

    def loads(self, token: str | None) -> dict[str, Any]:
        """The data of a valid token.

        :raises TokenMissing: for an empty token.
        :raises TokenExpired: for a genuine token older than ``max_age``.
        :raises TokenInvalid: for anything else.
        """
        if not token:
            raise TokenMissing(self.purpose)
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalid(self.purpose)
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise TokenExpired(self.purpose) from None
        except BadData:
            raise TokenInvalid(self.purpose) from None
        if not isinstance(data, dict):
            raise TokenInvalid(self.purpose)
        return data
