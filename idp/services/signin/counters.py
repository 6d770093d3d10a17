"""Where the limiter's counters live: Redis, the database, or Redis with the database behind.

A counter is ``(count, settled, last)``: slots reserved (attempts that started), failures
settled (for the per-card delays), and the time of the last settled failure. Every
operation is one atomic step: a Lua script on Redis, one statement on the database.

The database store works on a connection and transaction of its own (``engine.begin()``),
never on the caller's ``db.session``: a reservation must be committed, and so visible to
every other worker, before the password check it guards runs, whatever the caller's unit
of work does later (and it must never commit the caller's half-done writes).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar

from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from idp.extensions import db
from idp.extensions import upsert_insert
from idp.models.throttle import ThrottleCounter
from idp.redis_client import SharedRedis

if TYPE_CHECKING:
    import redis

_T = TypeVar("_T")


@dataclass(frozen=True)
class Counter:
    """One counter as an atomic step left it."""

    #: Slots reserved in this counter's life (minus those given back).
    count: int = 0
    #: Failures settled (consecutive, for the per-card delays).
    settled: int = 0
    #: Time of the last settled failure (or of the counter's start).
    last: dt.datetime | None = None
    #: Time of the reservation before this one (None: none in this counter's life).
    previous: dt.datetime | None = None


class CounterStore(Protocol):
    """The operations of a counter store; each one is atomic."""

    @property
    def name(self) -> str:
        """``redis`` or ``database``: where the counters are kept now."""

    def reserve(self, keys: Sequence[tuple[str, int]], now: dt.datetime) -> dict[str, Counter]:
        """Add one slot to every counter (restarting expired ones) and return them all.

        :param keys: ``(key, seconds to live)`` pairs.
        """

    def release(self, keys: Sequence[str]) -> None:
        """Give back one slot of every counter (a refused or successful attempt)."""

    def settle(self, keys: Sequence[str], now: dt.datetime) -> None:
        """Record one more settled failure, at ``now``."""

    def delete(self, keys: Sequence[str]) -> None:
        """Forget the counters (the database store: in the caller's session, uncommitted)."""

    def read(self, key: str, now: dt.datetime) -> Counter:
        """A live counter (``Counter()`` when none)."""


@cache
def _reserve_statement(dialect: str) -> Any:
    """The reservation's upsert for ``dialect``, built once (a multi-row ``values()``
    construct is compiled anew on every call; rows given at execution are not).

    A counter has expired when its ``expires_at`` is not after the reservation's time,
    which every row carries as ``reserved_at`` (``excluded`` is the row being inserted).
    """
    stmt = upsert_insert(dialect)(ThrottleCounter)
    excluded = stmt.excluded
    expired = ThrottleCounter.expires_at <= excluded.reserved_at
    return stmt.on_conflict_do_update(
        index_elements=[ThrottleCounter.key],
        set_={
            # An expired counter starts again; a live one counts on (atomically).
            "count": case((expired, 1), else_=ThrottleCounter.count + 1),
            "settled": case((expired, 0), else_=ThrottleCounter.settled),
            "last_at": case((expired, excluded.last_at), else_=ThrottleCounter.last_at),
            "reserved_at": excluded.reserved_at,
            # SET sees the old row: the reservation before this one is returned.
            "previous_reserved_at": case((expired, None), else_=ThrottleCounter.reserved_at),
            "expires_at": excluded.expires_at,
        },
    ).returning(
        ThrottleCounter.key,
        ThrottleCounter.count,
        ThrottleCounter.settled,
        ThrottleCounter.last_at,
        ThrottleCounter.previous_reserved_at,
    )


class DatabaseStore:
    """Counters in ``throttle_counters``: one statement per step, on its own connection."""

    name = "database"

    def reserve(self, keys: Sequence[tuple[str, int]], now: dt.datetime) -> dict[str, Counter]:
        if not keys:
            return {}
        rows = [
            {
                "key": key,
                "count": 1,
                "settled": 0,
                "last_at": now,
                "reserved_at": now,
                "previous_reserved_at": None,
                "expires_at": now + dt.timedelta(seconds=ttl),
            }
            # Sorted: concurrent multi-row upserts lock rows in the same order (no deadlock).
            for key, ttl in sorted(set(keys))
        ]
        # Own short transaction, not the caller's session (see the module docstring).
        with db.engine.begin() as conn:
            # One INSERT of every row (SQLAlchemy's "insertmanyvalues"), in key order.
            found = {
                str(row[0]): Counter(int(row[1]), int(row[2]), row[3], row[4])
                for row in conn.execute(_reserve_statement(conn.dialect.name), rows)
            }
            if secrets.randbelow(200) == 0:
                # Now and then, drop long-expired counters so the table stays small.
                conn.execute(delete(ThrottleCounter).where(ThrottleCounter.expires_at <= now))
        return found

    @staticmethod
    def _lock_in_order(conn: Any, keys: list[str]) -> None:
        """Lock the rows in key order, as the reservation's upsert does (no deadlock).

        ``UPDATE … WHERE key IN (…)`` alone locks in the table's order; two transactions
        locking the same counters in different orders would wait for each other.
        """
        conn.execute(
            select(ThrottleCounter.key)
            .where(ThrottleCounter.key.in_(keys))
            .order_by(ThrottleCounter.key)
            .with_for_update()
        ).all()

    def _update(self, keys: Sequence[str], *conditions: Any, **values: Any) -> None:
        """One ``UPDATE`` of the counters ``keys`` (and ``conditions``), in a short
        transaction of its own, the rows locked in key order first."""
        if not keys:
            return
        ordered = sorted(set(keys))
        with db.engine.begin() as conn:
            if conn.dialect.name != "sqlite":
                # SQLite has one writer at a time for the whole file: no row locks.
                self._lock_in_order(conn, ordered)
            conn.execute(
                update(ThrottleCounter)
                .where(ThrottleCounter.key.in_(ordered), *conditions)
                .values(**values)
            )

    def release(self, keys: Sequence[str]) -> None:
        # A refused slot never ran: the reservation before it is the latest again.
        self._update(
            keys,
            ThrottleCounter.count > 0,
            count=ThrottleCounter.count - 1,
            reserved_at=ThrottleCounter.previous_reserved_at,
        )

    def settle(self, keys: Sequence[str], now: dt.datetime) -> None:
        self._update(keys, settled=ThrottleCounter.settled + 1, last_at=now)

    def delete(self, keys: Sequence[str]) -> None:
        # Forgetting is no decision: it joins the caller's unit of work (an unlock, a
        # correct sign-in) and is committed with it.
        if keys:
            db.session.execute(
                delete(ThrottleCounter).where(ThrottleCounter.key.in_(sorted(set(keys))))
            )

    def read(self, key: str, now: dt.datetime) -> Counter:
        with db.engine.connect() as conn:
            row = conn.execute(
                select(
                    ThrottleCounter.count, ThrottleCounter.settled, ThrottleCounter.last_at
                ).where(ThrottleCounter.key == key, ThrottleCounter.expires_at > now)
            ).first()
        return Counter(int(row[0]), int(row[1]), row[2]) if row is not None else Counter()


#: Reserve a slot in every key: ARGV = now, then (expires, redis ttl) per key. Expiry is
#: kept in the application's clock, so that both stores agree; Redis's TTL only collects
#: garbage.
_RESERVE = """
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local expires = tonumber(redis.call('HGET', key, 'expires') or '0')
  if expires <= now then
    redis.call('DEL', key)
    redis.call('HSET', key, 'count', 1, 'settled', 0, 'last', ARGV[1])
  else
    redis.call('HINCRBY', key, 'count', 1)
    local reserved = redis.call('HGET', key, 'reserved')
    if reserved then
      redis.call('HSET', key, 'previous', reserved)
    end
  end
  redis.call('HSET', key, 'reserved', ARGV[1], 'expires', ARGV[2 * i])
  redis.call('EXPIRE', key, ARGV[2 * i + 1])
  out[i] = redis.call('HMGET', key, 'count', 'settled', 'last', 'previous')
end
return out
"""
_RELEASE = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('HGET', key, 'count') or '0') > 0 then
    redis.call('HINCRBY', key, 'count', -1)
    local previous = redis.call('HGET', key, 'previous')
    if previous then
      redis.call('HSET', key, 'reserved', previous)
    else
      redis.call('HDEL', key, 'reserved')
    end
  end
end
return 0
"""
_SETTLE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'settled', 1)
    redis.call('HSET', key, 'last', ARGV[1])
  end
end
return 0
"""


def _stamp(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(float(value), dt.UTC) if value is not None else None


class RedisStore:
    """Counters in Redis hashes ``{count, settled, last, reserved, previous, expires}``."""

    name = "redis"

    def __init__(self, shared: SharedRedis, prefix: str) -> None:
        self.shared = shared
        self.prefix = prefix
        self._scripts: tuple[redis.Redis, dict[str, Any]] | None = None

    @property
    def client(self) -> redis.Redis:
        """The process's shared client."""
        return self.shared.client

    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        client = self.shared.client
        if self._scripts is None or self._scripts[0] is not client:
            self._scripts = (client, {})
        registered = self._scripts[1].get(script)
        if registered is None:
            registered = self._scripts[1][script] = client.register_script(script)
        return registered(keys=keys, args=args)

    def reserve(self, keys: Sequence[tuple[str, int]], now: dt.datetime) -> dict[str, Counter]:
        if not keys:
            return {}
        stamp = now.timestamp()
        ordered = sorted(set(keys))
        args: list[Any] = [stamp]
        for _key, ttl in ordered:
            # Redis expires by the real clock; keep the key a day longer than our expiry.
            args += [stamp + ttl, max(ttl, 1) + 86400]
        answer = self._run(_RESERVE, [self.prefix + key for key, _ttl in ordered], args)
        found = {}
        for (key, _ttl), (count, settled, last, previous) in zip(ordered, answer, strict=True):
            found[key] = Counter(int(count or 0), int(settled or 0), _stamp(last), _stamp(previous))
        return found

    def release(self, keys: Sequence[str]) -> None:
        if keys:
            self._run(_RELEASE, [self.prefix + key for key in sorted(set(keys))], [])

    def settle(self, keys: Sequence[str], now: dt.datetime) -> None:
        if keys:
            self._run(_SETTLE, [self.prefix + key for key in sorted(set(keys))], [now.timestamp()])

    def delete(self, keys: Sequence[str]) -> None:
        if keys:
            self.client.delete(*[self.prefix + key for key in keys])

    def read(self, key: str, now: dt.datetime) -> Counter:
        count, settled, last, expires = self.client.hmget(
            self.prefix + key, ["count", "settled", "last", "expires"]
        )
        if count is None or float(expires or 0) <= now.timestamp():
            return Counter()
        when = dt.datetime.fromtimestamp(float(last), dt.UTC) if last is not None else None
        return Counter(int(count), int(settled or 0), when)


class FallbackStore:
    """Redis first; the database while Redis is unreachable (never fail open).

    Whether Redis is down is shared with every other user of :mod:`idp.redis_client`:
    it is :attr:`shared`'s ``down_until``.
    """

    def __init__(self, primary: RedisStore, fallback: DatabaseStore, shared: SharedRedis) -> None:
        self.primary = primary
        self.fallback = fallback
        self.shared = shared

    @property
    def name(self) -> str:
        return self.primary.name if self.shared.is_available() else self.fallback.name

    def _run(self, primary: Callable[[], _T], fallback: Callable[[], _T]) -> _T:
        return self.shared.run_with_fallback(
            "throttle", "throttling", "counting in the database", primary, fallback
        )

    def reserve(self, keys: Sequence[tuple[str, int]], now: dt.datetime) -> dict[str, Counter]:
        return self._run(
            lambda: self.primary.reserve(keys, now), lambda: self.fallback.reserve(keys, now)
        )

    def release(self, keys: Sequence[str]) -> None:
        self._run(lambda: self.primary.release(keys), lambda: self.fallback.release(keys))

    def settle(self, keys: Sequence[str], now: dt.datetime) -> None:
        self._run(lambda: self.primary.settle(keys, now), lambda: self.fallback.settle(keys, now))

    def delete(self, keys: Sequence[str]) -> None:
        # Forget in both: a reset must not come back when Redis returns.
        self._run(lambda: self.primary.delete(keys), lambda: None)
        self.fallback.delete(keys)

    def read(self, key: str, now: dt.datetime) -> Counter:
        return self._run(lambda: self.primary.read(key, now), lambda: self.fallback.read(key, now))
