"""Terminal allowances: a registered terminal's own source limits instead of its address's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.services.allowance import Allowance
from idp.sip2.terminals import TerminalConfigError
from idp.sip2.terminals import parse_terminals
from tests.conftest import Clock
from tests.security.conftest import REDIS_URL
from tests.sip2.conftest import DLIBRARY_PASSWORD
from tests.sip2.conftest import HASHED_PASSWORD
from tests.sip2.conftest import PROXY_PASSWORD
from tests.sip2.conftest import login
from tests.sip2.conftest import patron_status
from tests.sip2.conftest import terminals_toml
from tests.sip2.test_throttling import LOCKED_JA
from tests.sip2.test_throttling import THROTTLED_JA
from tests.sip2.test_throttling import set_limits
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.sip2 import RawClient

THROTTLED_PREFIX = "ログインの試行回数が多すぎます。"
#: The allowance of the test's proxy terminal.
PER_MINUTE = 40
#: The allowance of the test's terminal without login (its password in AC).
AC_PER_MINUTE = 15
PER_DAY = 30
#: The default per-address limits (IDP_THROTTLE_IP_PER_MINUTE, …_FAILURES_PER_DAY).
DEFAULTS = {
    "IDP_THROTTLE_IP_PER_MINUTE": 10,
    "IDP_THROTTLE_NET_PER_MINUTE": 30,
    "IDP_THROTTLE_IP_FAILURES_PER_DAY": 100,
    "IDP_THROTTLE_NET_FAILURES_PER_DAY": 300,
}


@pytest.fixture
def terminals_file(tmp_path: Path, terminal_hash: str) -> Path:
    """The usual test terminals, plus an e-resource proxy with an allowance."""
    path = tmp_path / "sip2-terminals.toml"
    path.write_text(
        terminals_toml(terminal_hash).replace(
            "login_required = false", f"login_required = false\nchecks_per_minute = {AC_PER_MINUTE}"
        )
        + f"""
[[terminal]]
login = "ezproxy"
password_hash = "{terminal_hash}"
checks_per_minute = {PER_MINUTE}
failures_per_day = {PER_DAY}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, app: Flask) -> str:
    """Both throttle stores, with the default per-address limits."""
    set_limits(app, **DEFAULTS)
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        set_limits(app, IDP_REDIS_URL=REDIS_URL, IDP_THROTTLE_REDIS_PREFIX=prefix)
    return str(request.param)


def logged_in(connect: Callable[..., RawClient], user: str, password: str) -> RawClient:
    terminal = connect()
    assert terminal.ask(login(user, password)).fixed == {"ok": "1"}
    return terminal


def test_an_allowance_passes_more_checks_than_the_address_allows(
    store: str, connect: Callable[..., RawClient], patron: Patron, clock: Clock
) -> None:
    proxy = logged_in(connect, "ezproxy", HASHED_PASSWORD)
    # Far more than the 10 a minute one address gets, from the same 127.0.0.1.
    for seq in range(PER_MINUTE):
        answer = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD, seq=seq % 10))
        assert (answer.get("BL"), answer.get("CQ")) == ("Y", "Y"), seq
    # The allowance itself throttles when exceeded, with the usual answer.
    over = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (over.get("BL"), over.get("CQ"), over.get("AF")) == ("N", "N", THROTTLED_JA)
    # The proxy's checks did not count against the address: a terminal without an
    # allowance on the same address still gets its 10, then is throttled at the 11th.
    vendor = logged_in(connect, "d-library", DLIBRARY_PASSWORD)
    for seq in range(10):
        answer = vendor.ask(patron_status(patron.card_number, DEFAULT_PASSWORD, seq=seq))
        assert answer.get("CQ") == "Y", seq
    refused = vendor.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (refused.get("BL"), refused.get("AF")) == ("N", THROTTLED_JA)
    # The next minute, the allowance is back.
    clock.advance(seconds=60)
    again = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (again.get("BL"), again.get("CQ")) == ("Y", "Y")
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "login.throttled"))
    assert sorted(e.user_agent or "" for e in events) == ["d-library", "ezproxy"]


def test_a_terminal_without_login_has_its_allowance(
    store: str, connect: Callable[..., RawClient], patron: Patron
) -> None:
    proxy = connect()
    for seq in range(AC_PER_MINUTE):
        answer = proxy.ask(
            patron_status(patron.card_number, DEFAULT_PASSWORD, seq=seq % 10, ac=PROXY_PASSWORD)
        )
        assert answer.get("CQ") == "Y", seq
    over = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD, ac=PROXY_PASSWORD))
    assert (over.get("BL"), over.get("AF")) == ("N", THROTTLED_JA)


def test_the_allowance_bounds_failures_per_day(
    store: str, connect: Callable[..., RawClient], patron: Patron, clock: Clock
) -> None:
    proxy = logged_in(connect, "ezproxy", HASHED_PASSWORD)
    for index in range(PER_DAY):
        # A spray: one guess on each of many cards (unknown ones count the same).
        answer = proxy.ask(patron_status(f"03{index:08d}", "1234", seq=index % 10))
        assert answer.get("CQ") == "N"
        clock.advance(seconds=2)  # stay under the per-minute allowance
    # Refused until the UTC day ends, even with the right password.
    refused = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (refused.get("BL"), refused.get("CQ")) == ("N", "N")
    assert (refused.get("AF") or "").startswith(THROTTLED_PREFIX)
    # Card look-ups without a password are refused by the allowance too.
    lookup = proxy.ask(patron_status(patron.card_number))
    assert lookup.get("BL") == "N"
    assert (lookup.get("AF") or "").startswith(THROTTLED_PREFIX)


def test_the_per_card_lock_still_engages(
    store: str, app: Flask, connect: Callable[..., RawClient], patron: Patron
) -> None:
    set_limits(app, IDP_THROTTLE_CARD_LOCK_AFTER=3)
    proxy = logged_in(connect, "ezproxy", HASHED_PASSWORD)
    for _ in range(2):
        assert proxy.ask(patron_status(patron.card_number, "wrong-guess")).get("CQ") == "N"
    locked = proxy.ask(patron_status(patron.card_number, "wrong-guess"))
    assert locked.get("BL") == "N"
    assert (locked.get("AF") or "").startswith(LOCKED_JA)
    right = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (right.get("BL"), right.get("CQ")) == ("N", "N")
    db.session.expire_all()
    assert db.session.get(Patron, patron.id).locked_at is not None  # type: ignore[union-attr]


def test_the_per_card_delays_still_apply(
    app: Flask, connect: Callable[..., RawClient], patron: Patron
) -> None:
    set_limits(app, IDP_THROTTLE_CARD_FREE_FAILURES=2, IDP_THROTTLE_CARD_DELAY=60)
    proxy = logged_in(connect, "ezproxy", HASHED_PASSWORD)
    for _ in range(2):
        assert proxy.ask(patron_status(patron.card_number, "wrong-guess")).get("CQ") == "N"
    throttled = proxy.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (throttled.get("BL"), throttled.get("AF")) == ("N", THROTTLED_JA)


ENV = {"PW": "terminal-password-1"}


def test_the_allowance_is_read_from_the_file() -> None:
    [entry] = parse_terminals(
        {"terminal": [{"login": "a", "password_env": "PW", "checks_per_minute": 600}]}, ENV
    )
    assert entry.settings.allowance == Allowance("terminal:a", 600, None)
    [plain] = parse_terminals({"terminal": [{"login": "b", "password_env": "PW"}]}, ENV)
    assert plain.settings.allowance is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"checks_per_minute": 0}, "checks_per_minute must be between 1 and 6000, not 0"),
        ({"checks_per_minute": -5}, "checks_per_minute must be between 1 and 6000, not -5"),
        ({"checks_per_minute": 6001}, "checks_per_minute must be between 1 and 6000, not 6001"),
        (
            {"checks_per_minute": "100"},
            "checks_per_minute must be a whole number between 1 and 6000",
        ),
        (
            {"checks_per_minute": True},
            "checks_per_minute must be a whole number between 1 and 6000",
        ),
        ({"checks_per_minute": 1.5}, "checks_per_minute must be a whole number between 1 and 6000"),
        ({"failures_per_day": 0}, "failures_per_day must be between 1 and 10000, not 0"),
        ({"failures_per_day": 10001}, "failures_per_day must be between 1 and 10000, not 10001"),
    ],
)
def test_invalid_allowances_are_refused_at_load(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(TerminalConfigError) as excinfo:
        parse_terminals({"terminal": [{"login": "a", "password_env": "PW", **extra}]}, ENV)
    assert str(excinfo.value) == f"terminal 'a': {message}"
