"""Staff password check through the sign-in throttle: channel ``staff``, counters of its own.

This module is the one place where a staff password is checked (the seam to the shared
sign-in core). The counters are those of :mod:`idp.services.throttle` — same stores,
Redis or database, counted across nodes, reserved before the password is checked — under
kinds of their own (``staff``, ``staff_ip``, ``staff_ip_day``), so that patrons' failures
and staff failures never share a counter.

Order (as for patrons, docs/security.md): a locked account is refused; a throttled
account or source is refused without checking the password; then the attempt is counted
and the password checked; a failure counts toward the delay and, at
``IDP_STAFF_LOCK_AFTER``, locks the account until ``idp staff enable``. An unknown
username costs the same Argon2 verification and counts the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from idp.context import services
from idp.extensions import db
from idp.metrics import current_metrics
from idp.models.staff import StaffMember
from idp.services import audit
from idp.services.patrons import MAX_PASSWORD_INPUT
from idp.services.patrons import normalize_password
from idp.services.staff.accounts import find_staff
from idp.services.throttle import BackoffRule
from idp.services.throttle import Rule
from idp.services.throttle import Throttle
from idp.services.throttle import WindowRule
from idp.services.throttle import throttle

#: Key of the staff throttle in ``services().extra``.
EXTRA_KEY = "staff_throttle"
#: The sign-in channel, in the audit log and the metrics.
CHANNEL = "staff"


class StaffSignInOutcome(enum.StrEnum):
    """Why a staff password check passed or failed."""

    OK = "ok"
    INVALID_CREDENTIALS = "invalid_credentials"
    THROTTLED = "throttled"
    LOCKED = "locked"
    #: Right password, but the account is disabled or not enrolled yet.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class StaffSignIn:
    """The outcome; ``staff`` only for OK."""

    outcome: StaffSignInOutcome
    staff: StaffMember | None = None
    retry_after: int = 0


def staff_rules() -> dict[str, Rule]:
    """The staff counters' rules (``IDP_STAFF_*`` and the per-address throttle limits)."""
    config = services().config
    return {
        "staff": BackoffRule(
            free=int(config["IDP_STAFF_FREE_FAILURES"]),
            delay=int(config["IDP_THROTTLE_CARD_DELAY"]),
            max_delay=int(config["IDP_THROTTLE_CARD_MAX_DELAY"]),
            lock_after=int(config["IDP_STAFF_LOCK_AFTER"]),
            forget=int(config["IDP_THROTTLE_CARD_FORGET"]),
        ),
        "staff_ip": WindowRule(int(config["IDP_THROTTLE_IP_PER_MINUTE"]), 60),
        "staff_ip_day": WindowRule(int(config["IDP_THROTTLE_IP_FAILURES_PER_DAY"]), 86400),
    }


def staff_throttle() -> Throttle:
    """The staff counters: the patrons' store (Redis or database), the staff rules."""
    extra = services().extra
    found = extra.get(EXTRA_KEY)
    if found is None:
        found = extra[EXTRA_KEY] = Throttle(
            throttle().store, staff_rules(), str(services().config["SECRET_KEY"])
        )
    assert isinstance(found, Throttle)  # noqa: S101 - only this module sets it
    return found


def _backoff(gate: Throttle) -> BackoffRule:
    rule = gate.rules["staff"]
    assert isinstance(rule, BackoffRule)  # noqa: S101 - built by staff_rules
    return rule


def _key(username: str) -> str:
    return username.strip().lower()[:64]


def check_staff_password(
    username: str, password: str, *, source_ip: str | None, user_agent: str | None
) -> StaffSignIn:
    """Check a staff username and password (the first factor); audited, counted.

    :param source_ip: the browser's address (per-address counters, audit).
    """
    result = _check(username, password, source_ip, user_agent)
    if metrics := current_metrics():
        metrics.logins.labels(result.outcome.value, CHANNEL).inc()
    return result


def _check(
    username: str, password: str, source_ip: str | None, user_agent: str | None
) -> StaffSignIn:
    svc = services()
    gate = staff_throttle()
    key = _key(username)
    secret = normalize_password(password)
    staff = find_staff(key) if len(secret) <= MAX_PASSWORD_INPUT else None
    actor = staff.username if staff else None
    meta: dict[str, Any] = {
        "ip": source_ip,
        "user_agent": user_agent,
        "actor": actor,
        "channel": CHANNEL,
    }
    failures = gate.count("staff", key)
    if (staff is not None and staff.locked_at is not None) or _backoff(gate).is_locking(failures):
        audit.record("staff.login_locked", commit=True, **meta)
        return StaffSignIn(StaffSignInOutcome.LOCKED)
    wait = max(
        gate.check("staff", key),
        gate.check("staff_ip", source_ip or ""),
        gate.check("staff_ip_day", source_ip or ""),
    )
    if wait:
        audit.record("staff.login_throttled", commit=True, retry_after=wait, **meta)
        return StaffSignIn(StaffSignInOutcome.THROTTLED, retry_after=wait)
    gate.hit("staff_ip", source_ip or "")
    password_hash = staff.password_hash if staff else None
    if not svc.passwords.verify(password_hash, secret):
        return record_failure(key, staff, meta)
    assert staff is not None  # noqa: S101 - verify() is False without a hash
    gate.reset("staff", key, commit=False)
    if svc.passwords.needs_rehash(password_hash or ""):
        staff.password_hash = svc.passwords.hash(secret)
    if not staff.is_active or not staff.is_enrolled:
        audit.record("staff.login_refused", reason="unavailable", **meta)
        db.session.commit()
        return StaffSignIn(StaffSignInOutcome.UNAVAILABLE)
    db.session.commit()
    return StaffSignIn(StaffSignInOutcome.OK, staff)


def record_failure(username: str, staff: StaffMember | None, meta: dict[str, Any]) -> StaffSignIn:
    """Count a failed first or second factor for ``username``; lock at the hard cap."""
    gate = staff_throttle()
    key = _key(username)
    count = gate.hit("staff", key)
    gate.hit("staff_ip_day", meta.get("ip") or "")
    if staff is not None and _backoff(gate).is_locking(count):
        staff.locked_at = services().now()
        audit.record("staff.locked", failures=count, commit=True, **meta)
        return StaffSignIn(StaffSignInOutcome.LOCKED)
    audit.record("staff.login_failed", commit=True, **meta)
    return StaffSignIn(StaffSignInOutcome.INVALID_CREDENTIALS)


def clear_staff_failures(username: str) -> None:
    """Forget an account's failure counter (enable, reset, a completed sign-in)."""
    staff_throttle().reset("staff", _key(username))


def second_factor_wait(username: str, source_ip: str | None) -> int:
    """Seconds before another second-factor attempt for ``username`` is allowed (0: go).

    A wrong code counts on the same ``staff`` counter as a wrong password
    (:func:`record_failure`), so guessing codes meets the same delays and lock.
    """
    gate = staff_throttle()
    return max(gate.check("staff", _key(username)), gate.check("staff_ip_day", source_ip or ""))


def complete_sign_in(
    staff: StaffMember, *, method: str, source_ip: str | None, user_agent: str | None
) -> None:
    """Both factors passed: clear the failures, note the time, audit (caller commits)."""
    staff_throttle().reset("staff", _key(staff.username), commit=False)
    staff.last_login_at = services().now()
    audit.record(
        "staff.login",
        ip=source_ip,
        user_agent=user_agent,
        actor=staff.username,
        channel=CHANNEL,
        role=staff.role,
        method=method,
    )
