"""Per-caller allowances: a registered caller's own source limits (docs/security.md §1).

A SIP2 terminal that is really a vendor's proxy, a busy self-check machine, or a vendor
calling the credential-check API from its own server sends every patron's check from one
address, and the per-address limits (``IDP_THROTTLE_IP_*``, ``IDP_THROTTLE_NET_*``) would
hold all of them to a handful of checks a minute. Where such a caller is registered (the
SIP2 terminals file, a client file) it may get an allowance: ``checks_per_minute`` and
``failures_per_day`` counted against the caller itself (``terminal:<login>``,
``client:<client_id>``) instead of against its address and network. The per-card limits
(delays and the lock) are never relaxed by an allowance.

This module is pure: it validates the two settings; :mod:`idp.services.signin.limiter` counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Highest ``checks_per_minute`` accepted (100 a second): anything above is a typo.
MAX_CHECKS_PER_MINUTE = 6000
#: Highest ``failures_per_day`` accepted: a spray of 10,000 wrong guesses a day finds one
#: random 4-digit PIN a day on average; no single caller should be allowed more.
MAX_FAILURES_PER_DAY = 10000
#: The settings of an allowance, as written in the terminals file and client files.
ALLOWANCE_KEYS = ("checks_per_minute", "failures_per_day")


class AllowanceError(ValueError):
    """An allowance setting is not a usable number; the message says which and why."""


@dataclass(frozen=True)
class Allowance:
    """A registered caller's own source limits, used instead of the per-address ones.

    A limit left as None takes the per-address default (``IDP_THROTTLE_IP_PER_MINUTE``,
    ``IDP_THROTTLE_IP_FAILURES_PER_DAY``), still counted against the caller.
    """

    #: The caller's counter key: ``terminal:<login>`` or ``client:<client_id>``.
    key: str
    #: Password checks (and card look-ups) per minute from this caller.
    checks_per_minute: int | None = None
    #: Failed checks per UTC day from this caller.
    failures_per_day: int | None = None
    #: True: the per-address limits of the source address apply as well (the
    #: credential-check API when the client names the patron's address).
    is_address_limited: bool = False


def _limit(table: Mapping[str, Any], key: str, maximum: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    # TOML booleans are ints in Python: ``true`` is not a number of checks.
    if isinstance(value, bool) or not isinstance(value, int):
        raise AllowanceError(f"{key} must be a whole number between 1 and {maximum}")
    if not 1 <= value <= maximum:
        raise AllowanceError(f"{key} must be between 1 and {maximum}, not {value}")
    return value


def parse_allowance(table: Mapping[str, Any], key: str) -> Allowance | None:
    """The allowance of a registration table, or None when it sets neither limit.

    :param table: the terminal's or client's table (other keys are ignored).
    :param key: the caller's counter key, e.g. ``terminal:selfcheck-1``.
    :raises AllowanceError: for a value that is not a whole number in range.
    """
    per_minute = _limit(table, "checks_per_minute", MAX_CHECKS_PER_MINUTE)
    per_day = _limit(table, "failures_per_day", MAX_FAILURES_PER_DAY)
    if per_minute is None and per_day is None:
        return None
    return Allowance(key, per_minute, per_day)
