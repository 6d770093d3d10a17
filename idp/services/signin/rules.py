"""The rules of the sign-in limiter: fixed windows and growing delays (SPEC §7).

Pure logic: every rule decides on counts that :mod:`idp.services.signin.counters` returned
from one atomic step. Limits come from the ``IDP_THROTTLE_*``, ``IDP_CARD_VERIFY_*`` and
``IDP_REISSUE_*`` and ``IDP_DEVICE_*`` settings (:mod:`idp.settings`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass
from typing import Literal

from idp.services.networks import parse_address
from idp.settings import Settings
from idp.settings.sections import ThrottleSettings

#: Seconds after which a check that reserved a slot and never settled it (its worker
#: died) no longer holds the next ones back. Far longer than any check takes.
STALE_CHECK_SECONDS = 120
#: What a window counts: every attempt, or failures only (a success gives its slot back).
Counts = Literal["attempts", "failures"]


@dataclass(frozen=True)
class WindowRule:
    """At most ``limit`` hits per fixed window of ``window`` seconds (0: no limit)."""

    limit: int
    window: int
    counts: Counts = "attempts"

    def bucket(self, now: dt.datetime) -> int:
        """The number of the window ``now`` falls in (windows start at the Unix epoch)."""
        return int(now.timestamp()) // self.window

    def wait(self, count: int, now: dt.datetime) -> int:
        """Seconds until another hit is allowed, after ``count`` hits in this window."""
        if self.limit <= 0 or count < self.limit:
            return 0
        end = (self.bucket(now) + 1) * self.window
        return max(1, math.ceil(end - now.timestamp()))

    def refuses(self, reserved: int, now: dt.datetime) -> int:
        """Seconds to wait when the ``reserved``-th hit of this window is one too many."""
        if self.limit <= 0 or reserved <= self.limit:
            return 0
        return self.wait(reserved, now)


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

    def refuses(
        self,
        reserved: int,
        settled: int,
        last: dt.datetime | None,
        now: dt.datetime,
        previous: dt.datetime | None = None,
    ) -> int:
        """Seconds to wait for the attempt that reserved slot number ``reserved``.

        ``reserved - 1`` attempts came before it (finished or still checking); ``settled``
        of them finished as failures, the last at ``last``. Within the free failures
        every attempt goes ahead, however many run at once. Past them an attempt goes
        ahead only when every earlier one has finished and the delay after the last
        failure has passed: while another check is still running its outcome (and so
        the delay) is unknown, and the attempt waits at least one full delay. So a burst
        never gets more than the free failures, and never counts toward the lock.

        :param previous: when the slot before this one was reserved. Unfinished checks
            are taken as dead (a killed worker) once that is :data:`STALE_CHECK_SECONDS`
            ago, so that they do not hold the card back for good.
        """
        before = reserved - 1
        delay = self.delay_after(before)
        if delay == 0:
            return 0
        if settled < before:
            is_recent = previous is not None and (
                (now - previous).total_seconds() < STALE_CHECK_SECONDS
            )
            if is_recent:
                return delay
            before = settled  # the unfinished ones died: only settled failures count
        if last is None:
            return self.delay_after(before)
        return self.wait(before, last, now)

    def is_locking(self, failures: int) -> bool:
        """True when ``failures`` consecutive failures lock the card."""
        return 0 < self.lock_after <= failures


Rule = WindowRule | BackoffRule


def backoff_from_settings(throttle: ThrottleSettings) -> BackoffRule:
    """The per-card rule (``IDP_THROTTLE_CARD_*``)."""
    return BackoffRule(
        free=throttle.card_free_failures,
        delay=throttle.card_delay,
        max_delay=throttle.card_max_delay,
        lock_after=throttle.card_lock_after,
        forget=throttle.card_forget,
    )


def rules_from_settings(settings: Settings) -> dict[str, Rule]:
    """The rule of every counter kind, from the settings."""
    per_ip = settings.throttle.ip_per_minute
    per_ip_day = settings.throttle.ip_failures_per_day
    return {
        "card": backoff_from_settings(settings.throttle),
        "ip": WindowRule(per_ip, 60),
        "net": WindowRule(settings.throttle.net_per_minute, 60),
        "ip_day": WindowRule(per_ip_day, 86400, "failures"),
        "net_day": WindowRule(settings.throttle.net_failures_per_day, 86400, "failures"),
        # The defaults of an allowance that sets only one of its two limits.
        "caller": WindowRule(per_ip, 60),
        "caller_day": WindowRule(per_ip_day, 86400, "failures"),
        "card_verify_client": WindowRule(settings.throttle.card_verify_client_per_minute, 60),
        "card_verify_ip": WindowRule(settings.throttle.card_verify_ip_per_minute, 60),
        "card_verify_failures": WindowRule(
            settings.throttle.card_verify_failures_per_day, 86400, "failures"
        ),
        "reissue_ip": WindowRule(settings.throttle.reissue_ip_per_minute, 60),
        "reissue_ip_hour": WindowRule(settings.throttle.reissue_ip_per_hour, 3600),
        "reissue_card": WindowRule(settings.throttle.reissue_card_per_hour, 3600),
        # The device verification page (/device): user codes entered per address, wrong
        # ones per address, and entries of one device's code over its lifetime.
        "device_ip": WindowRule(settings.throttle.device_ip_per_minute, 60),
        "device_ip_failures": WindowRule(
            settings.throttle.device_ip_failures_per_hour, 3600, "failures"
        ),
        "device_code": WindowRule(
            settings.throttle.device_code_entries, max(60, settings.tokens.device_code_ttl)
        ),
    }


def network_of(address: str) -> str:
    """The network an address belongs to for throttling: /24 for IPv4, /64 for IPv6.

    Anything that is not an IP address is its own network.
    """
    ip = parse_address(address)
    if ip is None:
        return address
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
