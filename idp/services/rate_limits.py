"""Simple request limits (the ``limits`` package under Flask-Limiter), no database.

Counters live in Redis when ``IDP_REDIS_URL`` is set (shared by every node, through the
process's one client, :mod:`idp.redis_client`), otherwise in this process's memory. While
Redis does not answer, this process's memory counts instead (each node then limits on
its own: weaker, never open). Used by the password re-issue form: per source address,
and per card so that nobody can flood a patron with mail.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from idp.context import services
from idp.metrics import current_metrics
from idp.redis_client import SharedRedis
from idp.redis_client import redis_errors
from idp.redis_client import shared_redis

if TYPE_CHECKING:
    from limits.storage import Storage
    from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

#: Prefix of the counters' keys in Redis.
KEY_PREFIX = "idp-limits"


class RateLimits:
    """Moving-window counters keyed by a purpose and identifiers.

    :param shared: the shared Redis (or its URL); None counts in memory only.
    """

    def __init__(self, shared: SharedRedis | str | None) -> None:
        if isinstance(shared, str):
            shared = SharedRedis(shared)
        self.shared = shared
        # The limits package is imported with the first counter (the password pages).
        from limits.storage import MemoryStorage
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter

        self.memory = MemoryStorage()
        self._memory_strategy = MovingWindowRateLimiter(self.memory)
        self.storage: Storage = self.memory
        if shared is not None:
            self.storage = RedisStorage(
                shared.url, connection_pool=shared.client.connection_pool, key_prefix=KEY_PREFIX
            )
        self._strategy = MovingWindowRateLimiter(self.storage)

    def hit(self, rule: str, *identifiers: str) -> bool:
        """Count one event; False when ``rule`` (e.g. ``"5/minute;20/hour"``) is exceeded."""
        shared = self.shared
        if shared is not None and shared.is_available():
            try:
                return self._hit(self._strategy, rule, identifiers)
            except redis_errors() as exc:
                shared.mark_down(exc)
        if shared is not None:
            if shared.fallback_started("rate_limits"):
                log.warning(
                    "Redis unreachable for request limits (%s); counting in memory for %ds",
                    shared.last_error,
                    shared.retry_seconds,
                )
            if metrics := current_metrics():
                metrics.redis_fallbacks.labels("rate_limits").inc()
            return self._hit(self._memory_strategy, rule, identifiers)
        return self._hit(self._strategy, rule, identifiers)

    @staticmethod
    def _hit(strategy: MovingWindowRateLimiter, rule: str, identifiers: tuple[str, ...]) -> bool:
        from limits import parse_many

        allowed = True
        for item in parse_many(rule):
            allowed = strategy.hit(item, *identifiers) and allowed
        if not allowed and (metrics := current_metrics()):
            metrics.throttle_events.labels(identifiers[0] if identifiers else "limit").inc()
        return allowed


def rate_limits() -> RateLimits:
    """The application's limits (created on first use)."""
    svc = services()
    found: RateLimits | None = svc.extra.get("rate_limits")
    if found is None:
        found = RateLimits(shared_redis())
        svc.extra["rate_limits"] = found
    return found
