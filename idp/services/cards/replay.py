"""Replay memory of card codes: the database on one node, Redis across nodes (SPEC §5).

A desk may accept a card code once. :class:`DatabaseReplayStore` makes the first use
win with one conditional upsert on the ``used_card_codes`` primary key, so that two
desks on two nodes sharing the database cannot both accept it. With ``IDP_REDIS_URL``
set, :class:`~idp.services.cards.codes.RedisReplayStore` does the same with ``SET NX``,
and the database takes over while Redis is unreachable (logged; never fail open).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable

from sqlalchemy import delete

from idp.extensions import db
from idp.extensions import upsert_insert
from idp.models.card_code import UsedCardCode
from idp.redis_client import SharedRedis
from idp.services.cards.codes import RedisReplayStore
from idp.services.cards.codes import ReplayStore

#: After Redis failed, use the database for this long before trying Redis again (when no
#: shared client is given; the shared one follows ``IDP_REDIS_RETRY_SECONDS``).
REDIS_RETRY_SECONDS = 30.0


class DatabaseReplayStore:
    """Used codes in the ``used_card_codes`` table; each claim is committed at once."""

    name = "database"

    def __init__(self, clock: Callable[[], dt.datetime], *, purge_every: int = 50) -> None:
        """:param clock: the application's clock (aware UTC).
        :param purge_every: on average, purge expired rows once in this many claims.
        """
        self._clock = clock
        self._purge_every = max(purge_every, 1)

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """See :meth:`idp.services.cards.codes.ReplayStore.claim`."""
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        now = self._clock()
        expires = now + dt.timedelta(seconds=ttl_seconds)
        dialect = db.session.get_bind().dialect.name
        insert = upsert_insert(dialect)
        # Insert, or take over a row whose time has passed; a live row wins and the
        # statement returns nothing. One statement, so concurrent claims serialise on
        # the primary key and exactly one of them gets a row back.
        stmt = (
            insert(UsedCardCode)
            .values(key=key, expires_at=expires)
            .on_conflict_do_update(
                index_elements=[UsedCardCode.key],
                set_={"expires_at": expires},
                where=UsedCardCode.expires_at <= now,
            )
            .returning(UsedCardCode.key)
        )
        claimed = db.session.execute(stmt).first() is not None
        if secrets.randbelow(self._purge_every) == 0:
            self.purge(now)
        db.session.commit()
        return claimed

    def purge(self, now: dt.datetime) -> int:
        """Delete the rows of codes no desk would accept any more (not committed).

        :return: the number of rows deleted.
        """
        result = db.session.execute(delete(UsedCardCode).where(UsedCardCode.expires_at <= now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class FallbackReplayStore:
    """Redis first; the database while Redis is unreachable.

    :param shared: the process's Redis client (:mod:`idp.redis_client`), whose "Redis is
        down" state every user shares; without it the store keeps a state of its own.
    """

    def __init__(
        self,
        primary: RedisReplayStore,
        fallback: DatabaseReplayStore,
        shared: SharedRedis | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        # Without a shared client, a private one only for its down flag (never connects).
        self.shared = shared or SharedRedis("redis://", retry_seconds=REDIS_RETRY_SECONDS)

    @property
    def name(self) -> str:
        """``redis`` or, while Redis is down, ``database``."""
        return "redis" if self.shared.is_available() else "database"

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """See :meth:`idp.services.cards.codes.ReplayStore.claim`."""
        return self.shared.run_with_fallback(
            "card_replay",
            "card-code replays",
            "using the database",
            lambda: self.primary.claim(key, ttl_seconds),
            lambda: self.fallback.claim(key, ttl_seconds),
        )


class KeyedReplayStore:
    """Hands the stores an HMAC of ``card:step`` instead of the card number itself."""

    def __init__(self, inner: ReplayStore, secret: bytes) -> None:
        self.inner = inner
        self._secret = secret

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """See :meth:`idp.services.cards.codes.ReplayStore.claim`."""
        digest = hmac.new(self._secret, b"replay\x00" + key.encode(), hashlib.sha256)
        return self.inner.claim(digest.hexdigest()[:64], ttl_seconds)
