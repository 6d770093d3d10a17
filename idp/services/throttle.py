"""Attempt counters shared by every node: throttling and lockout (SPEC §7).

One small API for every endpoint that must resist guessing (the login, the credential
check, the desk's card verification, the password re-issue form)::

    gate = throttle()
    wait = max(gate.check("card", card), gate.check_source(ip))  # 0: go ahead
    if wait:
        ...refuse without checking anything, "try again in {wait} seconds"
    gate.hit_source(ip)                    # one more attempt from this source
    ...check the secret...
    if failed:
        gate.hit("card", card)             # one more consecutive failure
        gate.hit_source(ip, failed=True)   # one more failure today from this source
    else:
        gate.reset("card", card)

Kinds of counter (limits from ``IDP_THROTTLE_*``, see :mod:`idp.config`):

``card``
    consecutive failures for one card number: the first few are free, then a delay that
    doubles with each failure (capped); at ``IDP_THROTTLE_CARD_LOCK_AFTER`` the caller
    locks the card.
``ip`` / ``net``
    attempts per minute from one address / one network (/24, /64).
``ip_day`` / ``net_day``
    failures per UTC day from one address / one network.
``caller`` / ``caller_day``
    attempts per minute / failures per UTC day from one registered caller with an
    allowance (:class:`~idp.services.allowance.Allowance`: a SIP2 terminal or an API
    client), counted *instead of* ``ip``/``net``/``ip_day``/``net_day``; the limits are
    the allowance's own.
``card_verify_client`` / ``card_verify_ip`` / ``card_verify_failures``
    the desk's card-code checks: calls per minute per client and per address, refused
    codes per UTC day per client (``IDP_CARD_VERIFY_*``).

Counters live in Redis when ``IDP_REDIS_URL`` is set, in the ``throttle_counters`` table
otherwise. When Redis does not answer within a short timeout the database counters are
used instead (logged once, retried after ``IDP_REDIS_RETRY_SECONDS``; the Redis client
and its "down" state are shared, see :mod:`idp.redis_client`): never fail open.
Keys are HMACs of kind and value, so neither store holds card numbers or addresses.
Database writes commit the current session: call the counters before or after your own
writes, not in the middle of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar

from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select

from idp.context import services
from idp.extensions import db
from idp.extensions import upsert_insert
from idp.metrics import current_metrics
from idp.models.throttle import ThrottleCounter
from idp.redis_client import SharedRedis
from idp.redis_client import redis_errors
from idp.redis_client import shared_redis
from idp.services.allowance import Allowance

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: Key of the service in ``services().extra``.
EXTRA_KEY = "throttle"

_T = TypeVar("_T")


@dataclass(frozen=True)
class WindowRule:
    """At most ``limit`` hits per fixed window of ``window`` seconds (0: no limit)."""

    limit: int
    window: int

    def bucket(self, now: dt.datetime) -> int:
        """The number of the window ``now`` falls in (windows start at the Unix epoch)."""
        return int(now.timestamp()) // self.window

    def wait(self, count: int, now: dt.datetime) -> int:
        """Seconds until another hit is allowed, after ``count`` hits in this window."""
        if self.limit <= 0 or count < self.limit:
            return 0
        end = (self.bucket(now) + 1) * self.window
        return max(1, math.ceil(end - now.timestamp()))


@dataclass(frozen=True)
class BackoffRule:
    """Growing delays after consecutive failures, and the count that locks."""

    free: int
    delay: int
    max_delay: int
    lock_after: int
    forget: int

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after the last of ``failures`` consecutive failures."""
        if failures < self.free or failures <= 0:
            return 0
        return int(min(self.delay * 2 ** min(failures - self.free, 32), self.max_delay))

    def wait(self, failures: int, last: dt.datetime | None, now: dt.datetime) -> int:
        """Seconds from ``now`` until the next attempt is allowed."""
        delay = self.delay_after(failures)
        # No delay is due (free failures), whatever the clocks of other nodes said.
        if last is None or delay == 0:
            return 0
        remaining = (last + dt.timedelta(seconds=delay) - now).total_seconds()
        return max(0, math.ceil(remaining))

    def is_locking(self, failures: int) -> bool:
        """True when ``failures`` consecutive failures lock the card."""
        return 0 < self.lock_after <= failures


Rule = WindowRule | BackoffRule


def rules_from_config(config: dict[str, Any]) -> dict[str, Rule]:
    """The rule of every counter kind, from the ``IDP_THROTTLE_*`` options."""
    return {
        "card": BackoffRule(
            free=int(config["IDP_THROTTLE_CARD_FREE_FAILURES"]),
            delay=int(config["IDP_THROTTLE_CARD_DELAY"]),
            max_delay=int(config["IDP_THROTTLE_CARD_MAX_DELAY"]),
            lock_after=int(config["IDP_THROTTLE_CARD_LOCK_AFTER"]),
            forget=int(config["IDP_THROTTLE_CARD_FORGET"]),
        ),
        "ip": WindowRule(int(config["IDP_THROTTLE_IP_PER_MINUTE"]), 60),
        "net": WindowRule(int(config["IDP_THROTTLE_NET_PER_MINUTE"]), 60),
        "ip_day": WindowRule(int(config["IDP_THROTTLE_IP_FAILURES_PER_DAY"]), 86400),
        "net_day": WindowRule(int(config["IDP_THROTTLE_NET_FAILURES_PER_DAY"]), 86400),
        # The defaults of an allowance that sets only one of its two limits.
        "caller": WindowRule(int(config["IDP_THROTTLE_IP_PER_MINUTE"]), 60),
        "caller_day": WindowRule(int(config["IDP_THROTTLE_IP_FAILURES_PER_DAY"]), 86400),
        "card_verify_client": WindowRule(int(config["IDP_CARD_VERIFY_CLIENT_PER_MINUTE"]), 60),
        "card_verify_ip": WindowRule(int(config["IDP_CARD_VERIFY_IP_PER_MINUTE"]), 60),
        "card_verify_failures": WindowRule(int(config["IDP_CARD_VERIFY_FAILURES_PER_DAY"]), 86400),
    }


def network_of(address: str) -> str:
    """The network an address belongs to for throttling: /24 for IPv4, /64 for IPv6.

    Anything that is not an IP address is its own network.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class CounterStore(Protocol):
    """Where counters are kept: a counter is (count, time of last hit, expiry)."""

    def read(self, key: str, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        """The count and last hit of a live counter; ``(0, None)`` when none."""

    def increment(self, key: str, now: dt.datetime, ttl: int, *, commit: bool = True) -> int:
        """Add one (starting again from 1 once expired); return the new count.

        :param commit: False leaves a database write to the caller's next commit.
        """

    def delete(self, key: str, *, commit: bool = True) -> None:
        """Forget a counter (``commit`` as for :meth:`increment`)."""


class DatabaseStore:
    """Counters in the ``throttle_counters`` table (atomic upserts, committed at once)."""

    name = "database"

    def read(self, key: str, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        row = db.session.execute(
            select(ThrottleCounter.count, ThrottleCounter.last_at).where(
                ThrottleCounter.key == key, ThrottleCounter.expires_at > now
            )
        ).first()
        return (int(row[0]), row[1]) if row is not None else (0, None)

    def increment(self, key: str, now: dt.datetime, ttl: int, *, commit: bool = True) -> int:
        dialect = db.session.get_bind().dialect.name
        insert = upsert_insert(dialect)
        expires = now + dt.timedelta(seconds=ttl)
        stmt = insert(ThrottleCounter).values(key=key, count=1, last_at=now, expires_at=expires)
        upsert = stmt.on_conflict_do_update(
            index_elements=[ThrottleCounter.key],
            set_={
                # An expired counter starts again; a live one counts on (atomically).
                "count": case(
                    (ThrottleCounter.expires_at <= now, 1), else_=ThrottleCounter.count + 1
                ),
                "last_at": now,
                "expires_at": expires,
            },
        ).returning(ThrottleCounter.count)
        count = int(db.session.execute(upsert).scalar_one())
        if secrets.randbelow(200) == 0:
            # Now and then, drop long-expired counters so the table stays small.
            db.session.execute(delete(ThrottleCounter).where(ThrottleCounter.expires_at <= now))
        if commit:
            db.session.commit()
        return count

    def delete(self, key: str, *, commit: bool = True) -> None:
        db.session.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))
        if commit:
            db.session.commit()


#: Atomic "count on, or start again when expired" (expiry in the application's clock, so
#: that both stores agree; Redis's own TTL only collects garbage).
_INCREMENT = """
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires') or '0')
local count
if expires <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'count', 1)
  count = 1
else
  count = redis.call('HINCRBY', KEYS[1], 'count', 1)
end
redis.call('HSET', KEYS[1], 'last', ARGV[1], 'expires', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return count
"""


class RedisStore:
    """Counters in Redis hashes ``{count, last, expires}``."""

    name = "redis"

    def __init__(self, shared: SharedRedis, prefix: str) -> None:
        self.shared = shared
        self.prefix = prefix
        self._script: tuple[redis.Redis, Any] | None = None

    @property
    def client(self) -> redis.Redis:
        """The process's shared client."""
        return self.shared.client

    def _increment(self, keys: list[str], args: list[float | int]) -> Any:
        client = self.shared.client
        if self._script is None or self._script[0] is not client:
            self._script = (client, client.register_script(_INCREMENT))
        return self._script[1](keys=keys, args=args)

    def read(self, key: str, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        count, last, expires = self.client.hmget(self.prefix + key, ["count", "last", "expires"])
        if count is None or last is None or float(expires or 0) <= now.timestamp():
            return 0, None
        return int(count), dt.datetime.fromtimestamp(float(last), dt.UTC)

    def increment(self, key: str, now: dt.datetime, ttl: int, *, commit: bool = True) -> int:
        del commit  # Redis writes at once
        stamp = now.timestamp()
        # Redis expires by the real clock; keep the key a day longer than our own expiry.
        return int(
            self._increment(
                keys=[self.prefix + key], args=[stamp, stamp + ttl, max(ttl, 1) + 86400]
            )
        )

    def delete(self, key: str, *, commit: bool = True) -> None:
        del commit  # Redis writes at once
        self.client.delete(self.prefix + key)


class FallbackStore:
    """Redis first; the database while Redis is unreachable (never fail open).

    Whether Redis is down is shared with every other user of :mod:`idp.redis_client`.
    """

    def __init__(self, primary: RedisStore, fallback: DatabaseStore, shared: SharedRedis) -> None:
        self.primary = primary
        self.fallback = fallback
        self.shared = shared

    @property
    def down_until(self) -> float:
        """Monotonic time until which Redis is skipped."""
        return self.shared.down_until

    @down_until.setter
    def down_until(self, value: float) -> None:
        self.shared.down_until = value

    @property
    def name(self) -> str:
        return self.primary.name if self.shared.is_available() else self.fallback.name

    def _run(self, primary: Callable[[], _T], fallback: Callable[[], _T]) -> _T:
        if self.shared.is_available():
            try:
                return primary()
            except redis_errors() as exc:
                self.shared.mark_down(exc)
        if self.shared.fallback_started("throttle"):
            log.warning(
                "Redis unreachable for throttling (%s); counting in the database for %ds",
                self.shared.last_error,
                self.shared.retry_seconds,
            )
        if metrics := current_metrics():
            metrics.redis_fallbacks.labels("throttle").inc()
        return fallback()

    def read(self, key: str, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        return self._run(lambda: self.primary.read(key, now), lambda: self.fallback.read(key, now))

    def increment(self, key: str, now: dt.datetime, ttl: int, *, commit: bool = True) -> int:
        return self._run(
            lambda: self.primary.increment(key, now, ttl),
            lambda: self.fallback.increment(key, now, ttl, commit=commit),
        )

    def delete(self, key: str, *, commit: bool = True) -> None:
        # Forget in both: a reset must not come back when Redis returns.
        self._run(lambda: self.primary.delete(key), lambda: None)
        self.fallback.delete(key, commit=commit)


class Throttle:
    """The counters of one application; reach it with :func:`throttle`."""

    def __init__(self, store: CounterStore, rules: dict[str, Rule], secret: str) -> None:
        self.store = store
        self.rules = rules
        self._secret = secret.encode()

    def _key(
        self, kind: str, value: str, now: dt.datetime, rule: Rule | None = None
    ) -> tuple[str, Rule]:
        rule = self.rules[kind] if rule is None else rule
        digest = hmac.new(self._secret, f"{kind}\0{value}".encode(), hashlib.sha256)
        key = f"{kind}:{digest.hexdigest()[:48]}"
        if isinstance(rule, WindowRule):
            key += f":{rule.bucket(now)}"
        return key, rule

    def count(self, kind: str, key: str) -> int:
        """The current count (consecutive failures for ``card``; hits in this window)."""
        now = services().now()
        store_key, _rule = self._key(kind, key, now)
        return self.store.read(store_key, now)[0]

    def check(self, kind: str, key: str, *, limit: int | None = None) -> int:
        """Seconds to wait before the next attempt for ``key``; 0 means go ahead.

        :param kind: ``card``, ``ip``, ``net``, ``ip_day`` or ``net_day``.
        :param limit: for a window kind, this limit instead of the configured one (an
            allowance's own).
        :raises KeyError: for an unknown kind.
        """
        now = services().now()
        store_key, rule = self._key(kind, key, now, self._rule(kind, limit))
        count, last = self.store.read(store_key, now)
        if isinstance(rule, BackoffRule):
            wait = rule.wait(count, last, now)
        else:
            wait = rule.wait(count, now)
        if wait and (metrics := current_metrics()):
            metrics.throttle_events.labels(kind).inc()
        return wait

    def hit(self, kind: str, key: str, *, limit: int | None = None, commit: bool = True) -> int:
        """Count one attempt (or failure) for ``key``; return the new count.

        :param limit: as for :meth:`check` (a limit of 0 counts nothing).
        :param commit: False leaves the database store's write to the caller's next commit.
        """
        now = services().now()
        store_key, rule = self._key(kind, key, now, self._rule(kind, limit))
        if isinstance(rule, BackoffRule):
            ttl = rule.forget
        elif rule.limit <= 0:
            return 0
        else:
            ttl = rule.window
        return self.store.increment(store_key, now, ttl, commit=commit)

    def reset(self, kind: str, key: str, *, commit: bool = True) -> None:
        """Forget the counter of ``key`` (a correct login, a staff unlock).

        :param commit: False leaves the database store's write to the caller's next commit.
        """
        now = services().now()
        self.store.delete(self._key(kind, key, now)[0], commit=commit)

    def _rule(self, kind: str, limit: int | None) -> Rule | None:
        """The rule of ``kind`` with another limit, or None for the configured one."""
        rule = self.rules[kind]
        if limit is None or not isinstance(rule, WindowRule):
            return None
        return WindowRule(limit, rule.window)

    def check_source(self, ip: str | None, *, allowance: Allowance | None = None) -> int:
        """Seconds the source must wait.

        :param ip: the source address (per-address and per-network limits).
        :param allowance: the registered caller's allowance: its own counters and limits
            apply *instead of* those of ``ip`` (unless it says the address is limited
            too, :attr:`~idp.services.allowance.Allowance.is_address_limited`).
        """
        waits = [0]
        if allowance is not None:
            waits.append(self.check("caller", allowance.key, limit=allowance.checks_per_minute))
            waits.append(self.check("caller_day", allowance.key, limit=allowance.failures_per_day))
        if ip and (allowance is None or allowance.is_address_limited):
            net = network_of(ip)
            waits.append(self.check("ip", ip))
            waits.append(self.check("net", net))
            waits.append(self.check("ip_day", ip))
            waits.append(self.check("net_day", net))
        return max(waits)

    def hit_source(
        self, ip: str | None, *, failed: bool = False, allowance: Allowance | None = None
    ) -> None:
        """Count an attempt from the source (``failed=True``: a failure for the day).

        :param allowance: as for :meth:`check_source`: the caller's counters instead of
            (or, when it is address-limited, as well as) those of ``ip``.
        """
        if allowance is not None:
            if failed:
                self.hit("caller_day", allowance.key, limit=allowance.failures_per_day)
            else:
                self.hit("caller", allowance.key, limit=allowance.checks_per_minute)
        if not ip or not (allowance is None or allowance.is_address_limited):
            return
        net = network_of(ip)
        # Both counters in one commit (the database store), before the password check.
        if failed:
            self.hit("ip_day", ip, commit=False)
            self.hit("net_day", net)
        else:
            self.hit("ip", ip, commit=False)
            self.hit("net", net)

    @property
    def card_rule(self) -> BackoffRule:
        """The per-card rule (delays and the lock count)."""
        rule = self.rules["card"]
        assert isinstance(rule, BackoffRule)  # noqa: S101 - built by rules_from_config
        return rule


def build_throttle(config: dict[str, Any], shared: SharedRedis | None) -> Throttle:
    """A :class:`Throttle` on Redis (with database fallback) or on the database."""
    store: CounterStore = DatabaseStore()
    if shared is not None:
        store = FallbackStore(
            RedisStore(shared, str(config["IDP_THROTTLE_REDIS_PREFIX"])), DatabaseStore(), shared
        )
    return Throttle(store, rules_from_config(config), str(config["SECRET_KEY"]))


def throttle() -> Throttle:
    """The throttle of the current application (built on first use)."""
    extra = services().extra
    found = extra.get(EXTRA_KEY)
    if found is None:
        found = extra[EXTRA_KEY] = build_throttle(services().config, shared_redis())
    assert isinstance(found, Throttle)  # noqa: S101 - only this module sets it
    return found
