"""``idp purge`` and the periodic purge: expired rows go, live rows stay (SPEC §7)."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.authorization_code import AuthorizationCode
from idp.models.card_code import UsedCardCode
from idp.models.card_failure import CardFailure
from idp.models.device import DeviceAuthorization
from idp.models.lease import MaintenanceLease
from idp.models.session import LoginSession
from idp.models.throttle import ThrottleCounter
from idp.models.token import Token
from idp.purger import PeriodicPurge
from idp.purger import start_periodic_purge
from idp.services.purge import RULES
from idp.services.purge import purge
from idp.services.purge import take_lease
from idp.settings import app_settings
from tests.support.factories import change_settings

TABLES = [rule.table for rule in RULES]
MODELS = {
    "login_sessions": LoginSession,
    "authorization_codes": AuthorizationCode,
    "device_authorizations": DeviceAuthorization,
    "tokens": Token,
    "used_card_codes": UsedCardCode,
    "throttle_counters": ThrottleCounter,
    "card_failures": CardFailure,
    "audit_events": AuditEvent,
}


def _count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _fill(now: dt.datetime, patron: Any, client: Any, *, expired: int, live: int) -> None:
    """``expired`` rows per table that the purge should take, ``live`` ones it must keep."""
    day = dt.timedelta(days=1)
    for index in range(expired + live):
        old = index < expired
        when = now - 500 * day if old else now
        until = now - day if old else now + day
        tag = secrets.token_hex(8)
        db.session.add_all(
            [
                LoginSession(
                    id_hash=tag * 4,
                    sid=tag,
                    # A pending authorization request, as an anonymous visitor leaves it.
                    data={"pending": {"r": {"client_id": client.client_id}}},
                    created_at=when,
                    last_seen_at=now if not old else now - day,
                    expires_at=until if old else now + day,
                ),
                AuthorizationCode(
                    code_hash=tag * 4,
                    client_id=client.client_id,
                    patron_id=patron.id,
                    redirect_uri=client.redirect_uris[0],
                    nonce=tag,
                    auth_time=int(now.timestamp()),
                    created_at=when,
                    expires_at=until,
                    used_at=when if old else None,
                ),
                DeviceAuthorization(
                    device_code_hash=tag * 4,
                    user_code="BCDFGHJK",
                    client_id=client.client_id,
                    interval=5,
                    created_at=when,
                    expires_at=until,
                ),
                Token(
                    client_id=client.client_id,
                    patron_id=patron.id,
                    access_token_hash=tag * 4,
                    refresh_token_hash=("r" + tag[1:]) * 4,
                    family_id=tag,
                    issued_at=when,
                    access_expires_at=until,
                    refresh_expires_at=until,
                    rotated_at=when if old else None,
                ),
                UsedCardCode(key=tag, expires_at=until),
                ThrottleCounter(key=tag, count=3, last_at=when, expires_at=until),
                CardFailure(card_number=f"09{index:08d}", count=2, last_failed_at=when),
                AuditEvent(created_at=when, event="login.failed", detail={}),
            ]
        )
    db.session.commit()


def test_purge_deletes_expired_rows_of_every_table_and_keeps_live_ones(
    app: Flask, patron: Any, portal: Any, clock: Any
) -> None:
    _fill(clock.now, patron, portal, expired=7, live=3)
    assert purge(clock.now, app_settings(app), dry_run=True) == dict.fromkeys(TABLES, 7)
    assert all(_count(model) == 10 for model in MODELS.values())  # a dry run deletes nothing
    assert purge(clock.now, app_settings(app), batch_size=3) == dict.fromkeys(TABLES, 7)
    assert {table: _count(model) for table, model in MODELS.items()} == dict.fromkeys(TABLES, 3)
    assert purge(clock.now, app_settings(app)) == dict.fromkeys(TABLES, 0)


def test_a_refresh_token_is_kept_until_it_expires_even_when_rotated(
    app: Flask, patron: Any, portal: Any, clock: Any
) -> None:
    now = clock.now
    db.session.add(
        Token(
            client_id=portal.client_id,
            patron_id=patron.id,
            access_token_hash="a" * 64,
            refresh_token_hash="b" * 64,
            family_id="f",
            issued_at=now - dt.timedelta(hours=2),
            access_expires_at=now - dt.timedelta(hours=1),
            refresh_expires_at=now + dt.timedelta(days=1),
            rotated_at=now - dt.timedelta(hours=1),
        )
    )
    db.session.commit()
    assert purge(now, app_settings(app))["tokens"] == 0  # reuse must still be recognised
    assert purge(now + dt.timedelta(days=2), app_settings(app))["tokens"] == 1


def test_locked_and_issued_cards_failures_stay(app: Flask, patron: Any, clock: Any) -> None:
    old = clock.now - dt.timedelta(days=400)
    db.session.add_all(
        [
            CardFailure(card_number=patron.card_number, count=3, last_failed_at=old),
            CardFailure(card_number="0900000001", count=20, last_failed_at=old, locked_at=old),
            CardFailure(card_number="0900000002", count=1, last_failed_at=old),
        ]
    )
    db.session.commit()
    assert purge(clock.now, app_settings(app))["card_failures"] == 1
    assert {row.card_number for row in db.session.scalars(select(CardFailure))} == {
        patron.card_number,
        "0900000001",
    }


@pytest.mark.parametrize(("days", "kept"), [(30, 1), (0, 2)])
def test_audit_retention_is_configurable(app: Flask, clock: Any, days: int, kept: int) -> None:
    change_settings(app, IDP_AUDIT_RETENTION_DAYS=days)
    db.session.add_all(
        [
            AuditEvent(created_at=clock.now - dt.timedelta(days=31), event="login.ok"),
            AuditEvent(created_at=clock.now - dt.timedelta(days=29), event="login.ok"),
        ]
    )
    db.session.commit()
    purge(clock.now, app_settings(app))
    assert _count(AuditEvent) == kept


def test_the_command_prints_what_it_deletes_and_dry_run_counts(
    app: Flask, runner: FlaskCliRunner, patron: Any, portal: Any, clock: Any
) -> None:
    _fill(clock.now, patron, portal, expired=2, live=1)
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "login_sessions\twould delete 2" in dry.output
    assert "total\twould delete 16" in dry.output
    assert _count(LoginSession) == 3
    done = runner.invoke(args=["purge"])
    assert done.exit_code == 0, done.output
    assert "audit_events\tdeleted 2" in done.output and "total\tdeleted 16" in done.output
    assert _count(LoginSession) == 1 and _count(Token) == 1


def test_one_node_of_many_takes_the_lease_per_interval(app: Flask, clock: Any) -> None:
    now = clock.now
    assert take_lease("purge", now, 600, "node-a:1")
    assert not take_lease("purge", now, 600, "node-b:1")
    assert not take_lease("purge", now + dt.timedelta(seconds=599), 600, "node-b:1")
    assert take_lease("purge", now + dt.timedelta(seconds=600), 600, "node-b:1")
    lease = db.session.get(MaintenanceLease, "purge")
    assert lease is not None and lease.holder == "node-b:1"


def test_periodic_purge_runs_on_one_of_two_workers(
    app: Flask, patron: Any, portal: Any, clock: Any
) -> None:
    _fill(clock.now, patron, portal, expired=2, live=1)
    first, second = PeriodicPurge(app, 900), PeriodicPurge(app, 900)
    second.holder = "other-node:2"
    assert first.run_once() == dict.fromkeys(TABLES, 2)
    assert second.run_once() is None  # the lease is taken for this interval
    clock.advance(seconds=901)
    assert second.run_once() is not None


def test_the_purge_thread_purges_in_the_background(
    app: Flask, patron: Any, portal: Any, clock: Any
) -> None:
    _fill(clock.now, patron, portal, expired=3, live=0)
    change_settings(app, IDP_PURGE_INTERVAL=1)
    thread = start_periodic_purge(app)
    assert thread is not None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            db.session.rollback()
            if sum(_count(model) for model in MODELS.values()) == 0:
                break
            time.sleep(0.1)
        assert {table: _count(model) for table, model in MODELS.items()} == dict.fromkeys(TABLES, 0)
    finally:
        thread.stop()
        thread.join(5)
    change_settings(app, IDP_PURGE_INTERVAL=0)
    assert start_periodic_purge(app) is None
