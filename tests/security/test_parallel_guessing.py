"""Parallel guessing: count first, then decide, on the real stores (docs/security.md §1).

Real threads against one application (its database: the SQLite file of the test, or
PostgreSQL with ``IDP_TEST_DATABASE_URL``; and Redis), and real processes: ``idp serve``
with 4 workers × 8 threads, attacked with 30 simultaneous wrong passwords over HTTP.
Every request reserves its slot in the card's, the address's and the network's counters
in one atomic step before Argon2 runs, so exactly the free failures are answered "wrong
password", the rest are throttled, and one burst never locks the card.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.signin import SignInOutcome
from tests.conftest import SECRET
from tests.conftest import TEST_REDIS_URL
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token
from tests.support.processes import healthy
from tests.support.processes import idp_serve
from tests.support.processes import serve_env
from tests.support.signin import authenticate

WRONG = "wrong-guess"
#: The documented defaults: free failures per card, checks per minute per address/network.
FREE = 5
PER_IP = 10
PER_NET = 30


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """The counters' store: the test's database, or the real Redis (own key prefix).

    The pool fits 40 threads of one process: each check holds its session's connection
    and, for a moment, one for its counters.
    """
    app_config.update(IDP_DB_POOL_SIZE=40, IDP_DB_MAX_OVERFLOW=45)
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        app_config.update(IDP_REDIS_URL=TEST_REDIS_URL, IDP_THROTTLE_REDIS_PREFIX=prefix)
    return str(request.param)


def _burst(app: Flask, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        with app.app_context():
            barrier.wait()
            try:
                return call()
            finally:
                db.session.remove()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _outcomes(app: Flask, calls: list[Callable[[], Any]]) -> Counter[SignInOutcome]:
    return Counter(result.outcome for result in _burst(app, calls))


def test_one_card_from_one_address_gets_only_the_free_failures(
    store: str, app: Flask, patron: Patron
) -> None:
    card = patron.card_number
    outcomes = _outcomes(
        app, [lambda: authenticate(card, WRONG, source_ip="198.51.100.30") for _ in range(30)]
    )
    assert outcomes == {
        SignInOutcome.INVALID_CREDENTIALS: FREE,
        SignInOutcome.THROTTLED: 30 - FREE,
    }
    db.session.expire_all()
    fresh = db.session.get(Patron, patron.id)
    assert fresh is not None
    assert fresh.locked_at is None and fresh.failed_login_count == FREE


def test_one_address_gets_only_its_checks_per_minute_across_cards(store: str, app: Flask) -> None:
    cards = [f"03000500{i:02d}" for i in range(30)]
    outcomes = _outcomes(
        app, [lambda c=c: authenticate(c, WRONG, source_ip="198.51.100.31") for c in cards]
    )
    assert outcomes == {
        SignInOutcome.INVALID_CREDENTIALS: PER_IP,
        SignInOutcome.THROTTLED: 30 - PER_IP,
    }


def test_one_network_gets_only_its_checks_per_minute_across_addresses(
    store: str, app: Flask
) -> None:
    calls = [
        lambda i=i: authenticate(f"03000600{i:02d}", WRONG, source_ip=f"198.51.102.{i}")
        for i in range(40)
    ]
    outcomes = _outcomes(app, calls)
    assert outcomes == {
        SignInOutcome.INVALID_CREDENTIALS: PER_NET,
        SignInOutcome.THROTTLED: 40 - PER_NET,
    }


def test_after_a_burst_the_patron_signs_in_once_the_delay_is_over(
    store: str, app: Flask, patron: Patron, clock: Any
) -> None:
    card = patron.card_number
    _outcomes(app, [lambda: authenticate(card, WRONG, source_ip="198.51.100.32")] * 30)
    assert authenticate(card, DEFAULT_PASSWORD).outcome is SignInOutcome.THROTTLED
    clock.advance(seconds=61)
    assert authenticate(card, DEFAULT_PASSWORD).outcome is SignInOutcome.OK


# --- real processes: idp serve, 4 workers x 8 threads -------------------------------------


@pytest.fixture
def served(
    store: str,
    app_config: dict[str, Any],
    tmp_path: Path,
    keys_dir: Path,
    app: Flask,
    reserve_port: Callable[[], int],
) -> Iterator[str]:
    """``idp serve`` on the test's database (and Redis), 4 workers with 8 threads each."""
    port = reserve_port()
    env = serve_env(
        port,
        tmp_path,
        keys_dir,
        SECRET,
        IDP_DATABASE_URL=str(app_config["IDP_DATABASE_URL"]),
        IDP_WORKERS="4",
        IDP_THREADS="8",
        IDP_LOG_LEVEL="WARNING",
    )
    if store == "redis":
        env["IDP_REDIS_URL"] = str(app_config["IDP_REDIS_URL"])
        env["IDP_THROTTLE_REDIS_PREFIX"] = str(app_config["IDP_THROTTLE_REDIS_PREFIX"])
    log = tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with idp_serve(env, log) as process:
        deadline = time.monotonic() + 60
        while not healthy(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "idp serve did not start"
            time.sleep(0.2)
        yield url


def _login_form(url: str) -> tuple[requests.Session, str]:
    browser = requests.Session()
    page = browser.get(url + "/login", timeout=30)
    return browser, csrf_token(page.text)


@pytest.mark.e2e
def test_thirty_parallel_wrong_passwords_through_idp_serve(served: str, app: Flask) -> None:
    make_patron("0300000777")
    forms = [_login_form(served) for _ in range(30)]
    barrier = threading.Barrier(len(forms))

    def post(form: tuple[requests.Session, str]) -> int:
        browser, token = form
        barrier.wait()
        data = {"card_number": "0300000777", "password": WRONG, "csrf_token": token}
        return browser.post(served + "/login", data=data, timeout=60).status_code

    with ThreadPoolExecutor(len(forms)) as pool:
        statuses = Counter(pool.map(post, forms))
    # All from 127.0.0.1: the free failures are answered, every other one is throttled.
    assert statuses == {401: FREE, 429: 30 - FREE}
    db.session.expire_all()
    patron = db.session.scalar(db.select(Patron).where(Patron.card_number == "0300000777"))
    assert patron is not None
    assert patron.locked_at is None and patron.failed_login_count == FREE


# --- a check whose worker died ---------------------------------------------------------


def test_a_check_that_never_finished_holds_the_card_only_for_a_while(
    store: str, app: Flask, patron: Patron, clock: Any
) -> None:
    from idp.services.signin import Slot
    from idp.services.signin import limiter
    from idp.services.signin.rules import STALE_CHECK_SECONDS

    card = patron.card_number
    assert [authenticate(card, WRONG).outcome for _ in range(FREE)] == [
        SignInOutcome.INVALID_CREDENTIALS
    ] * FREE
    clock.advance(seconds=60)
    # A worker reserves the 6th slot and dies before it settles.
    assert limiter().reserve([Slot("card", card)]).allowed
    clock.advance(seconds=30)
    # While it may still be running, nobody else gets a slot, however often they ask.
    for _ in range(3):
        assert authenticate(card, DEFAULT_PASSWORD).outcome is SignInOutcome.THROTTLED
        clock.advance(seconds=10)
    clock.advance(seconds=STALE_CHECK_SECONDS)
    assert authenticate(card, DEFAULT_PASSWORD).outcome is SignInOutcome.OK
