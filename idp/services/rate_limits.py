"""Simple request limits (the ``limits`` package under Flask-Limiter), no database.

Counters live in Redis when ``IDP_REDIS_URL`` is set (shared by every node), otherwise in
this process's memory. Used by the password re-issue form: per source address, and per
card so that nobody can flood a patron with mail.
"""

from __future__ import annotations

import logging

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from idp.context import services

log = logging.getLogger(__name__)

#: Prefix of the counters' keys in Redis.
KEY_PREFIX = "idp-limits"


class RateLimits:
    """Moving-window counters keyed by a purpose and identifiers."""

    def __init__(self, redis_url: str | None) -> None:
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=KEY_PREFIX)
        else:
            self.storage = storage_from_string("memory://")
        self._strategy = MovingWindowRateLimiter(self.storage)

    def hit(self, rule: str, *identifiers: str) -> bool:
        """Count one event; False when ``rule`` (e.g. ``"5/minute;20/hour"``) is exceeded."""
        allowed = True
        for item in parse_many(rule):
            allowed = self._strategy.hit(item, *identifiers) and allowed
        return allowed


def rate_limits() -> RateLimits:
    """The application's limits (created on first use)."""
    svc = services()
    found: RateLimits | None = svc.extra.get("rate_limits")
    if found is None:
        found = RateLimits(svc.config.get("IDP_REDIS_URL"))
        svc.extra["rate_limits"] = found
    return found
