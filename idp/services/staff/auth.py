"""Staff sign-in through the sign-in core: channel ``staff``, subject counters of its own.

This module is the one place where a staff password or second factor is checked. Both
go through :func:`idp.services.signin.check_password`, which reserves every counter before
the check runs (atomic across nodes) and refuses a throttled attempt without checking:

``staff`` (per username)
    consecutive wrong passwords: the per-card delays (``IDP_THROTTLE_CARD_*``); at
    ``IDP_STAFF_LOCK_AFTER`` the account locks until ``idp staff enable``;
``staff_2fa`` (per username)
    consecutive wrong second-factor answers (TOTP, recovery code, passkey): the same
    delays and lock, not cleared by a right password — only by a completed sign-in;
``ip``, ``net``, ``ip_day``, ``net_day``
    the per-source counters every channel shares.

An unknown username costs the same Argon2 verification and counts the same way. Every
outcome is audited by the core's :func:`~idp.services.signin.record_outcome` under
``staff.*`` event names with the staff member as ``actor``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.models.staff import StaffMember
from idp.services.accounts.patrons import normalize_password
from idp.services.container import container
from idp.services.signin import MAX_PASSWORD_INPUT
from idp.services.signin import SignInOutcome
from idp.services.signin import Slot
from idp.services.signin import Source
from idp.services.signin import check_password
from idp.services.signin import check_secret
from idp.services.signin import limiter
from idp.services.signin import record_outcome
from idp.services.signin import refusal
from idp.services.staff.accounts import find_staff

#: The sign-in channel, in the audit log and the metrics.
CHANNEL = "staff"
#: Counter kinds of the two factors.
PASSWORD_KIND = "staff"  # noqa: S105 - a counter kind
SECOND_FACTOR_KIND = "staff_2fa"


class StaffSignInOutcome(enum.StrEnum):
    """Why a staff check passed or failed."""

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


def _key(username: str) -> str:
    return username.strip().lower()[:64]


def _lock_after() -> int:
    return container().settings.staff.lock_after


def _record(
    outcome: SignInOutcome,
    event: str,
    source: Source,
    staff: StaffMember | None,
    session: Session | None = None,
    **detail: Any,
) -> None:
    record_outcome(
        outcome,
        channel=CHANNEL,
        source=source,
        event=event,
        session=session,
        actor=staff.username if staff is not None else None,
        **detail,
    )


def _refused(
    outcome: StaffSignInOutcome,
    source: Source,
    staff: StaffMember | None,
    retry_after: int = 0,
    **detail: Any,
) -> StaffSignIn:
    """A factor refused unchecked (locked, throttled), audited in a transaction of its own."""
    with refusal() as session:
        if outcome is StaffSignInOutcome.THROTTLED:
            detail["retry_after"] = retry_after
            _record(
                SignInOutcome.THROTTLED, "staff.login_throttled", source, staff, session, **detail
            )
        else:
            _record(SignInOutcome.LOCKED, "staff.login_locked", source, staff, session, **detail)
    return StaffSignIn(outcome, retry_after=retry_after)


def check_staff_password(
    username: str, password: str, *, source_ip: str | None, user_agent: str | None
) -> StaffSignIn:
    """Check a staff username and password (the first factor); counted and audited.

    A refusal is recorded in a transaction of its own
    (:func:`~idp.services.signin.refusal`); after a right password the face commits.

    :param source_ip: the browser's address (per-source counters, audit).
    """
    svc = container()
    key = _key(username)
    secret = normalize_password(password)
    staff = find_staff(key) if len(secret) <= MAX_PASSWORD_INPUT else None
    password_hash = staff.password_hash if staff else None
    source = Source(ip=source_ip, user_agent=user_agent)
    if staff is not None and staff.locked_at is not None:
        return _refused(StaffSignInOutcome.LOCKED, source, staff)
    check = check_password(PASSWORD_KIND, key or None, password_hash, secret, source=source)
    if check.is_right is None:
        return _refused(StaffSignInOutcome.THROTTLED, source, staff, check.retry_after)
    if not check.is_right:
        return _failed(staff, check.failures, source)
    assert staff is not None  # noqa: S101 - verify() is False without a hash
    if svc.passwords.needs_rehash(password_hash or ""):
        staff.password_hash = svc.passwords.hash(secret)
    if not staff.is_active or not staff.is_enrolled:
        _record(SignInOutcome.OK, "staff.login_refused", source, staff, reason="unavailable")
        return StaffSignIn(StaffSignInOutcome.UNAVAILABLE)
    return StaffSignIn(StaffSignInOutcome.OK, staff)


def check_second_factor(
    staff: StaffMember,
    verify: Callable[[], bool],
    *,
    method: str,
    source_ip: str | None,
    user_agent: str | None,
) -> StaffSignIn:
    """Check a second-factor answer of ``staff`` (after the password); counted, audited.

    On success the sign-in is complete: both counters are cleared, the time noted and
    ``staff.login`` audited, for the face to commit. A refusal is recorded in a
    transaction of its own.

    :param verify: the check itself (a TOTP code, a recovery code, a passkey assertion).
        A TOTP step or a recovery code is claimed in a short transaction of its own
        (:mod:`idp.services.staff.totp`); it writes nothing to the face's session
        before the core has settled its counters.
    :param method: ``totp``, ``recovery_code`` or ``passkey``, for the audit line.
    """
    source = Source(ip=source_ip, user_agent=user_agent)
    check = check_secret(SECOND_FACTOR_KIND, staff.username, verify, source=source)
    if check.is_right is None:
        return _refused(
            StaffSignInOutcome.THROTTLED, source, staff, check.retry_after, method=method
        )
    if not check.is_right:
        return _failed(staff, check.failures, source, method=method)
    limiter().clear(PASSWORD_KIND, staff.username)
    staff.last_login_at = container().now()
    _record(SignInOutcome.OK, "staff.login", source, staff, role=staff.role, method=method)
    return StaffSignIn(StaffSignInOutcome.OK, staff)


def _failed(staff: StaffMember | None, failures: int, source: Source, **detail: Any) -> StaffSignIn:
    """A wrong answer: audited; at ``IDP_STAFF_LOCK_AFTER`` in a row the account locks.

    Both in a transaction of their own (:func:`~idp.services.signin.refusal`).
    """
    if staff is None or not 0 < _lock_after() <= failures:
        with refusal() as session:
            _record(
                SignInOutcome.INVALID_CREDENTIALS,
                "staff.login_failed",
                source,
                staff,
                session,
                **detail,
            )
        return StaffSignIn(StaffSignInOutcome.INVALID_CREDENTIALS)
    now = container().now()
    with refusal() as session:
        session.execute(update(StaffMember).where(StaffMember.id == staff.id).values(locked_at=now))
        _record(
            SignInOutcome.LOCKED,
            "staff.locked",
            source,
            staff,
            session,
            failures=failures,
            **detail,
        )
    # The face's copy of the row, as the refusal's transaction left it.
    set_committed_value(staff, "locked_at", now)
    return StaffSignIn(StaffSignInOutcome.LOCKED)


def clear_staff_failures(username: str) -> None:
    """Forget an account's failures of both factors (enable, reset)."""
    gate = limiter()
    gate.clear(PASSWORD_KIND, _key(username))
    gate.clear(SECOND_FACTOR_KIND, _key(username))


def failure_count(username: str, kind: str = PASSWORD_KIND) -> int:
    """Consecutive failures counted for ``username`` (``staff`` or ``staff_2fa``)."""
    gate = limiter()
    slot = Slot(kind, _key(username))
    return gate.store.read(gate.key(slot, gate.rule(slot)), container().now()).settled
