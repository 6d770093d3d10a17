"""One set of counters for every way in: SIP2, the hosted login page, terminal logins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from tests.conftest import Clock
from tests.rebuild import rebuild_limiter
from tests.security.conftest import REDIS_URL
from tests.security.conftest import post_login
from tests.sip2.conftest import DLIBRARY_PASSWORD
from tests.sip2.conftest import login
from tests.sip2.conftest import patron_status
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.sip2 import RawClient

LOCKED_JA = "パスワードの誤りが続いたため、この貸出カードはロックされています。"
THROTTLED_JA = "ログインの試行回数が多すぎます。1分ほど待ってから、もう一度お試しください。"


def set_limits(app: Flask, **limits: Any) -> None:
    """Change throttle settings (the throttle is built again with them)."""
    change_settings(app, **limits)
    rebuild_limiter(app)


@pytest.mark.parametrize("store", ["database", "redis"])
def test_sip2_failures_lock_the_card_for_the_web_login(
    request: pytest.FixtureRequest,
    app: Flask,
    client: FlaskClient,
    connect: Callable[..., RawClient],
    patron: Patron,
    store: str,
) -> None:
    if store == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        set_limits(app, IDP_REDIS_URL=REDIS_URL, IDP_THROTTLE_REDIS_PREFIX=prefix)
    set_limits(app, IDP_THROTTLE_CARD_LOCK_AFTER=3)
    terminal = connect()
    assert terminal.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
    for _ in range(2):
        assert terminal.ask(patron_status(patron.card_number, "wrong-guess")).get("CQ") == "N"
    locked = terminal.ask(patron_status(patron.card_number, "wrong-guess"))
    # Locked: nothing about the card is told, not even that it exists.
    assert (locked.get("BL"), locked.get("CQ")) == ("N", "N")
    assert (locked.get("AF") or "").startswith(LOCKED_JA)
    # The right password now fails on SIP2 and on the hosted login page alike.
    again = terminal.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (again.get("BL"), again.get("CQ")) == ("N", "N")
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 403
    assert LOCKED_JA in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Patron, patron.id).locked_at is not None  # type: ignore[union-attr]
    locks = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "patron.locked"))
    assert [e.detail["channel"] for e in locks] == ["sip2"]


def test_web_failures_delay_the_sip2_check(
    app: Flask,
    client: FlaskClient,
    terminal: RawClient,
    patron: Patron,
    clock: Clock,
) -> None:
    set_limits(app, IDP_THROTTLE_CARD_FREE_FAILURES=2, IDP_THROTTLE_CARD_DELAY=60)
    for _ in range(2):
        assert post_login(client, patron.card_number, "wrong-guess").status_code == 401
    throttled = terminal.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (throttled.get("BL"), throttled.get("CQ"), throttled.get("AF")) == (
        "N",
        "N",
        THROTTLED_JA,
    )
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "login.throttled")
    ).one()
    assert event.detail["channel"] == "sip2"
    clock.advance(seconds=61)
    answer = terminal.ask(patron_status(patron.card_number, DEFAULT_PASSWORD))
    assert (answer.get("BL"), answer.get("CQ")) == ("Y", "Y")


def test_card_lookups_are_limited_per_address(
    app: Flask, client: FlaskClient, terminal: RawClient, patron: Patron
) -> None:
    set_limits(app, IDP_THROTTLE_IP_PER_MINUTE=3)
    for card in ("0311111111", "0322222222", patron.card_number):
        terminal.ask(patron_status(card))
    # The fourth lookup in the minute is refused unchecked, even for a real card.
    refused = terminal.ask(patron_status(patron.card_number))
    assert (refused.get("BL"), refused.get("AF")) == ("N", THROTTLED_JA)
    # The same address is also throttled on the login page (same counters).
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD, ip="127.0.0.1")
    assert response.status_code == 429
    # Another address is not.
    assert post_login(client, patron.card_number, DEFAULT_PASSWORD).status_code == 302


def test_unknown_cards_count_as_failures_for_the_day(
    app: Flask, terminal: RawClient, patron: Patron
) -> None:
    set_limits(app, IDP_THROTTLE_IP_FAILURES_PER_DAY=2)
    for card in ("0311111111", "0322222222"):
        assert terminal.ask(patron_status(card)).get("BL") == "N"
    assert terminal.ask(patron_status(patron.card_number)).get("BL") == "N"


def test_terminal_login_failures_are_limited_per_address(
    app: Flask, client: FlaskClient, connect: Callable[..., RawClient], patron: Patron
) -> None:
    set_limits(app, IDP_THROTTLE_IP_FAILURES_PER_DAY=2)
    first = connect()
    assert first.ask(login("d-library", "guess-1")).fixed == {"ok": "0"}
    assert first.ask(login("d-library", "guess-2")).fixed == {"ok": "0"}
    # Now even the right terminal password is refused unchecked, on any connection.
    assert first.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "0"}
    assert first.is_closed()  # three refusals on one connection
    second = connect()
    assert second.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "0"}
    events = [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == [
        "sip2.terminal_login.failed",
        "sip2.terminal_login.failed",
        "sip2.terminal_login.throttled",
        "sip2.terminal_login.throttled",
    ]
    # The address's failures count for the hosted login too.
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD, ip="127.0.0.1")
    assert response.status_code == 429
