"""Throttling and lockout in authenticate(): per card, per address, per network (SPEC §7)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.throttle import ThrottleCounter
from idp.services.signin import SignInOutcome
from idp.services.signin import limiter
from idp.services.signin import unlock_patron
from idp.services.signin.rules import BackoffRule
from idp.services.signin.rules import WindowRule
from idp.services.signin.rules import network_of
from tests.rebuild import rebuild_limiter
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.signin import authenticate

WRONG = "wrong-guess"


def _fail(card: str, times: int, ip: str | None = None) -> list[SignInOutcome]:
    return [authenticate(card, WRONG, source_ip=ip).outcome for _ in range(times)]


def _fail_through_delays(card: str, clock: Any, times: int) -> list[SignInOutcome]:
    """Fail ``times`` times, waiting out every delay (an attacker with patience)."""
    outcomes = []
    for _ in range(times):
        result = authenticate(card, WRONG)
        while result.outcome is SignInOutcome.THROTTLED:
            clock.advance(seconds=result.retry_after)
            result = authenticate(card, WRONG)
        outcomes.append(result.outcome)
    return outcomes


def test_five_failures_are_free_then_the_delay_starts_at_a_minute(patron: Any) -> None:
    assert _fail(patron.card_number, 5) == [SignInOutcome.INVALID_CREDENTIALS] * 5
    result = authenticate(patron.card_number, WRONG)
    assert result.outcome is SignInOutcome.THROTTLED
    assert result.retry_after == 60


def test_throttled_attempt_refuses_even_the_right_password(patron: Any) -> None:
    _fail(patron.card_number, 5)
    result = authenticate(patron.card_number, DEFAULT_PASSWORD)
    assert result.outcome is SignInOutcome.THROTTLED
    db.session.refresh(patron)
    assert patron.last_login_at is None


def test_delay_doubles_with_each_further_failure(patron: Any, clock: Any) -> None:
    _fail(patron.card_number, 5)
    waits = []
    for _ in range(4):
        clock.advance(seconds=authenticate(patron.card_number, WRONG).retry_after)
        assert authenticate(patron.card_number, WRONG).outcome is SignInOutcome.INVALID_CREDENTIALS
        waits.append(authenticate(patron.card_number, WRONG).retry_after)
    assert waits == [120, 240, 480, 960]


def test_throttled_attempts_do_not_count_toward_the_lock(patron: Any) -> None:
    _fail(patron.card_number, 5)
    outcomes = _fail(patron.card_number, 50)
    assert set(outcomes) == {SignInOutcome.THROTTLED}
    db.session.refresh(patron)
    assert patron.failed_login_count == 5
    assert patron.locked_at is None


def test_card_locks_after_twenty_consecutive_failures(patron: Any, clock: Any) -> None:
    start = clock.now
    outcomes = _fail_through_delays(patron.card_number, clock, 20)
    assert outcomes == [SignInOutcome.INVALID_CREDENTIALS] * 19 + [SignInOutcome.LOCKED]
    db.session.refresh(patron)
    assert patron.locked_at is not None
    assert patron.failed_login_count == 20
    # The documented time it takes: 1+2+4+8+16+32 minutes, then 9 x 60 minutes.
    assert clock.now - start == dt.timedelta(minutes=63 + 9 * 60)


def test_locked_card_refuses_the_right_password_without_saying_so(patron: Any, clock: Any) -> None:
    _fail_through_delays(patron.card_number, clock, 20)
    clock.advance(days=3)
    right = authenticate(patron.card_number, DEFAULT_PASSWORD)
    wrong = authenticate(patron.card_number, WRONG)
    assert right.outcome is wrong.outcome is SignInOutcome.LOCKED


def test_correct_login_resets_the_count(patron: Any, clock: Any) -> None:
    _fail(patron.card_number, 5)
    clock.advance(seconds=60)
    assert authenticate(patron.card_number, DEFAULT_PASSWORD).outcome is SignInOutcome.OK
    db.session.refresh(patron)
    assert patron.failed_login_count == 0
    assert _fail(patron.card_number, 5) == [SignInOutcome.INVALID_CREDENTIALS] * 5


def test_unknown_card_is_throttled_and_locked_like_a_real_one(
    patron: Any, clock: Any, app: Flask
) -> None:
    real = _fail_through_delays(patron.card_number, clock, 20)
    unknown = _fail_through_delays("0399999999", clock, 20)
    assert unknown == real
    assert authenticate("0399999999", WRONG).outcome is SignInOutcome.LOCKED


def test_staff_unlock_clears_the_lock_and_the_delays(patron: Any, clock: Any) -> None:
    _fail_through_delays(patron.card_number, clock, 20)
    unlock_patron(patron)
    db.session.commit()
    assert authenticate(patron.card_number, DEFAULT_PASSWORD).outcome is SignInOutcome.OK


def test_one_address_is_capped_per_minute_across_many_cards(app: Flask, clock: Any) -> None:
    cards = [f"03000100{i:02d}" for i in range(12)]
    outcomes = [authenticate(card, WRONG, source_ip="198.51.100.7").outcome for card in cards]
    assert outcomes == [SignInOutcome.INVALID_CREDENTIALS] * 10 + [SignInOutcome.THROTTLED] * 2
    # Another network is not affected; the same address may go on next minute.
    assert authenticate(cards[11], WRONG, source_ip="203.0.113.9").outcome is (
        SignInOutcome.INVALID_CREDENTIALS
    )
    clock.advance(seconds=60)
    assert authenticate(cards[11], WRONG, source_ip="198.51.100.7").outcome is (
        SignInOutcome.INVALID_CREDENTIALS
    )


def test_one_ipv4_network_is_capped_per_minute(app: Flask) -> None:
    outcomes = [
        authenticate(f"03000200{i:02d}", WRONG, source_ip=f"198.51.100.{i}").outcome
        for i in range(31)
    ]
    assert outcomes == [SignInOutcome.INVALID_CREDENTIALS] * 30 + [SignInOutcome.THROTTLED]


def test_one_ipv6_network_is_capped_per_minute(app: Flask) -> None:
    outcomes = [
        authenticate(f"03000300{i:02d}", WRONG, source_ip=f"2001:db8:0:1::{i:x}").outcome
        for i in range(31)
    ]
    assert outcomes[-1] is SignInOutcome.THROTTLED
    other = authenticate("0300030099", WRONG, source_ip="2001:db8:0:2::1").outcome
    assert other is SignInOutcome.INVALID_CREDENTIALS


def test_failures_per_day_from_one_address_are_capped(app: Flask, clock: Any) -> None:
    clock.now = clock.now.replace(hour=0, minute=0, second=0)
    outcomes = []
    for i in range(101):
        result = authenticate(f"0300{i:06d}", WRONG, source_ip="198.51.100.8")
        while result.outcome is SignInOutcome.THROTTLED and result.retry_after <= 60:
            clock.advance(seconds=result.retry_after)
            result = authenticate(f"0300{i:06d}", WRONG, source_ip="198.51.100.8")
        outcomes.append(result)
    assert [r.outcome for r in outcomes[:100]] == [SignInOutcome.INVALID_CREDENTIALS] * 100
    assert outcomes[100].outcome is SignInOutcome.THROTTLED
    assert outcomes[100].retry_after > 60  # until the next UTC day


def test_counters_survive_a_restart(
    patron: Any, app_config: dict[str, Any], clock: Any, app: Flask
) -> None:
    from idp import create_app

    _fail(patron.card_number, 5)
    # Read before the other app's context: inside it, this test's session would borrow
    # a connection from the other app's engine.
    card = patron.card_number
    restarted = create_app(app_config)
    restarted.extensions["idp"].clock = clock
    with restarted.app_context():
        result = authenticate(card, DEFAULT_PASSWORD)
        db.session.remove()
        db.engine.dispose()
    assert result.outcome is SignInOutcome.THROTTLED


def test_database_counters_hold_no_card_number_or_address(patron: Any) -> None:
    authenticate(patron.card_number, WRONG, source_ip="198.51.100.9")
    keys = db.session.scalars(select(ThrottleCounter.key)).all()
    assert len(keys) == 5  # card; address and network per minute and per day
    assert not any(patron.card_number in k or "198.51.100" in k for k in keys)


def test_throttled_and_locked_attempts_are_audited(patron: Any, clock: Any) -> None:
    _fail(patron.card_number, 5, ip="198.51.100.10")
    authenticate(patron.card_number, WRONG, source_ip="198.51.100.10", user_agent="bot/1.0")
    _fail_through_delays(patron.card_number, clock, 15)
    authenticate(patron.card_number, DEFAULT_PASSWORD, source_ip="198.51.100.11", channel="sip2")
    events: dict[str, AuditEvent] = {}
    for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        events.setdefault(event.event, event)  # the first of each kind
    throttled = events["login.throttled"]
    assert throttled.patron_id == patron.id
    assert throttled.ip == "198.51.100.10"
    assert throttled.user_agent == "bot/1.0"
    assert throttled.detail["retry_after"] == 60
    assert events["patron.locked"].detail["failures"] == 20
    assert events["login.locked"].detail["channel"] == "sip2"
    dump = repr([(e.detail, e.user_agent) for e in events.values()])
    assert DEFAULT_PASSWORD not in dump and WRONG not in dump


def test_rules_compute_the_documented_delays() -> None:
    rule = BackoffRule(free=5, delay=60, max_delay=3600, lock_after=20, forget=86400)
    assert [rule.delay_after(n) for n in range(4, 13)] == [
        0,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert not rule.is_locking(19) and rule.is_locking(20)
    window = WindowRule(limit=10, window=60)
    moment = dt.datetime(2030, 1, 1, 0, 0, 45, tzinfo=dt.UTC)
    assert window.wait(9, moment) == 0
    assert window.wait(10, moment) == 15


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("198.51.100.7", "198.51.100.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_network_of_groups_addresses_by_24_and_64(address: str, network: str) -> None:
    assert network_of(address) == network


def test_a_limit_of_zero_switches_that_limit_off(app: Flask) -> None:
    change_settings(app, IDP_THROTTLE_IP_PER_MINUTE=0)
    change_settings(app, IDP_THROTTLE_NET_PER_MINUTE=0)
    rebuild_limiter(app)
    outcomes = {
        authenticate(f"03000400{i:02d}", WRONG, source_ip="198.51.100.12").outcome
        for i in range(15)
    }
    assert outcomes == {SignInOutcome.INVALID_CREDENTIALS}
    assert db.session.scalar(select(func.count()).select_from(ThrottleCounter)) == 17
    assert limiter().count("ip", "198.51.100.12") == 0
