"""The one Redis client of a process, made on first use from ``IDP_REDIS_URL``.

Everything that keeps shared state in Redis (throttle counters, request limits, replay
memory, caches) goes through :func:`shared_redis`, so a worker holds one connection pool
with short timeouts and a health check, and one opinion on whether Redis is up::

    shared = shared_redis()            # None when no Redis is configured
    if shared is not None and shared.is_available():
        try:
            shared.client.incr(...)
        except redis.RedisError as exc:
            if shared.mark_down(exc):  # True once per outage interval: log it
                log.warning(...)
            ...use the database (or this process's memory) instead

A failed call marks Redis down for :attr:`SharedRedis.retry_seconds`; during that time
callers skip Redis at once instead of each waiting for a timeout. The client is created
lazily and again after a fork, so a gunicorn master never hands its sockets to workers.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from idp.settings.sections import RedisSettings

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class SharedRedis:
    """A lazily created Redis client with short timeouts and a shared "down" flag.

    :param url: a ``redis://`` or ``rediss://`` URL.
    :param timeout_ms: connect and read timeout; a slow Redis must not stall sign-ins.
    :param health_check_interval: seconds a pooled connection may idle before it is
        checked with PING on its next use (drops connections a firewall has cut).
    :param retry_seconds: after a failure, how long callers skip Redis.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_ms: int = 250,
        health_check_interval: int = 30,
        retry_seconds: float = 30.0,
    ) -> None:
        self.url = url
        self.timeout = max(timeout_ms, 1) / 1000
        self.health_check_interval = health_check_interval
        self.retry_seconds = retry_seconds
        self.down_until = 0.0
        #: Name of the last error (for log lines), and a number per outage.
        self.last_error = ""
        self._outage = 0
        self._logged: dict[str, int] = {}
        self._client: redis.Redis | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        """The client of this process (created on first use, and again after a fork)."""
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            with self._lock:
                if self._client is None or self._pid != pid:
                    import redis

                    self._client = redis.Redis.from_url(self.url, **self.connection_kwargs())
                    self._pid = pid
        return self._client

    def connection_kwargs(self) -> dict[str, Any]:
        """Connection options, also for libraries that build their own pool (``limits``)."""
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry_on_timeout": False,
            "health_check_interval": self.health_check_interval,
        }

    def is_available(self) -> bool:
        """False while a recent failure says Redis is down."""
        return time.monotonic() >= self.down_until

    def mark_down(self, exc: BaseException | None = None) -> bool:
        """Record a failure; skip Redis for :attr:`retry_seconds`.

        :param exc: the error, for the caller's log line.
        :return: True when Redis was considered up until now (the caller logs once).
        """
        was_up = self.is_available()
        if exc is not None:
            self.last_error = type(exc).__name__
        if was_up:
            self._outage += 1
        self.down_until = time.monotonic() + self.retry_seconds
        return was_up

    def fallback_started(self, purpose: str) -> bool:
        """True the first time ``purpose`` uses its fallback in the current outage.

        Each user logs one warning per outage (and per retry interval), not per request.
        """
        if self._logged.get(purpose) == self._outage:
            return False
        self._logged[purpose] = self._outage
        return True

    def run_with_fallback(
        self,
        purpose: str,
        what: str,
        fallback_note: str,
        primary: Callable[[], _T],
        fallback: Callable[[], _T],
    ) -> _T:
        """``primary()`` on Redis; on a Redis failure (or while Redis is down) ``fallback()``.

        The one place that decides between Redis and the fallback store: a failure marks
        Redis down for :attr:`retry_seconds`, the first fallback of each outage is logged
        once per ``purpose``, and every fallback is counted in ``idp_redis_fallbacks``.

        :param purpose: the metric label and log key (``throttle``, ``card_replay``).
        :param what: what Redis was for, in the log line (``"throttling"``).
        :param fallback_note: what the log line says happens instead, e.g.
            ``"counting in the database"``.
        """
        if self.is_available():
            try:
                return primary()
            except redis_errors() as exc:
                self.mark_down(exc)
        if self.fallback_started(purpose):
            log.warning(
                "Redis unreachable for %s (%s); %s for %ds",
                what,
                self.last_error,
                fallback_note,
                self.retry_seconds,
            )
        from idp.metrics import current_metrics

        if metrics := current_metrics():
            metrics.redis_fallbacks.labels(purpose).inc()
        return fallback()

    def ping(self) -> bool:
        """True when Redis answers now (readiness); a success clears the down flag."""
        try:
            ok = bool(self.client.ping())
        except redis_errors() as exc:
            if self.mark_down(exc):
                log.warning(
                    "Redis unreachable (%s); fallbacks in use for %ds",
                    type(exc).__name__,
                    self.retry_seconds,
                )
            return False
        if ok:
            self.down_until = 0.0
        return ok

    def close(self) -> None:
        """Close this process's connections (tests, shutdown)."""
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None


def redis_errors() -> tuple[type[Exception], ...]:
    """The exception types of a Redis failure, for ``except redis_errors():``.

    The redis package (about 6 MB per process) is imported only when a client is made,
    so without Redis there is nothing to catch: the tuple is empty until then.
    """
    module = sys.modules.get("redis")
    return (module.RedisError,) if module is not None else ()


def build_shared_redis(section: RedisSettings) -> SharedRedis | None:
    """The shared client for the ``IDP_REDIS_*`` settings; None without ``IDP_REDIS_URL``."""
    if not section.url:
        return None
    return SharedRedis(
        section.url,
        timeout_ms=section.timeout_ms,
        health_check_interval=section.health_check_interval,
        retry_seconds=section.retry_seconds,
    )
