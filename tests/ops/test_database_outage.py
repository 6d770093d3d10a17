"""Database outages: a lost connection is retried when safe, otherwise 503, never a 500.

The PostgreSQL tests terminate the server's backends (``pg_terminate_backend``) while
requests run, with the pool's pre-ping switched off: the handling must not depend on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import Engine

from idp.extensions import db
from tests.conftest import PORTAL_SECRET
from tests.ops.http_rp import HttpRelyingParty
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer
from tests.support.oidc import RelyingParty

TIMEOUT = 30


def assert_unavailable(response: Any, *, json: bool) -> None:
    """A 503 in the endpoint's own format, with ``Retry-After``."""
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.headers["Retry-After"] == "5"
    if json:
        assert response.get_json()["error"] == "temporarily_unavailable"
    else:
        assert response.mimetype == "text/html"
        assert "しばらく" in response.get_data(as_text=True)  # the product's page, in Japanese


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that cannot be opened: a SQLite file in a missing folder, a closed port."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'missing' / 'idp.sqlite3'}"
    return "postgresql+psycopg://idp@127.0.0.1:1/idp?connect_timeout=2"


def test_an_unreachable_database_is_503_in_each_protocols_format(
    make_app: Callable[..., Flask], unreachable_url: str
) -> None:
    browser = make_app(IDP_DATABASE_URL=unreachable_url).test_client()
    # An anonymous login form needs no database; the authorization request does.
    assert browser.get("/login").status_code == 200
    assert_unavailable(browser.get("/authorize?client_id=portal&response_type=code"), json=False)
    # A session cookie makes the session lookup fail before any view runs.
    browser.set_cookie("idp_session", "A" * 43)
    assert_unavailable(browser.get("/login"), json=False)
    assert_unavailable(browser.get("/account"), json=False)
    assert_unavailable(browser.get("/userinfo", headers={"Authorization": "Bearer x"}), json=True)
    token = browser.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": "Basic cG9ydGFsOnNlY3JldA=="},
    )
    assert_unavailable(token, json=True)
    api = browser.post(
        "/api/patrons/authenticate",
        json={"card_number": "0300000001", "password": "1234"},
        headers={"Authorization": "Bearer some-access-token"},
    )
    assert_unavailable(api, json=True)
    ready = browser.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["database"] == "down"
    assert ready.headers["Retry-After"] == "5"


# --- PostgreSQL: terminated backends ------------------------------------------------------


@pytest.fixture
def pg_app(app: Flask) -> Flask:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("terminating backends needs PostgreSQL (IDP_TEST_DATABASE_URL)")
    db.engine.pool._pre_ping = False  # type: ignore[attr-defined]
    return app


@pytest.fixture
def admin() -> Iterator[Engine]:
    """A connection of its own to the test's database, to terminate the others."""
    engine = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def terminate_backends(admin: Engine) -> int:
    """Terminate every other connection to the test's database; how many there were."""
    with admin.connect() as conn:
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        )


def test_a_lost_connection_is_retried_for_reads(
    pg_app: Flask, admin: Engine, rp: RelyingParty, patron: Any
) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert rp.browser.get("/userinfo", headers=bearer).status_code == 200
    for request in (
        lambda: rp.browser.get("/userinfo", headers=bearer),  # the API path
        lambda: rp.browser.get("/account"),  # the session lookup in open_session
        lambda: rp.browser.get("/readyz"),
    ):
        assert terminate_backends(admin) >= 1  # the pooled connection is dead now
        assert request().status_code == 200


def test_a_lost_connection_after_a_write_is_503_and_changes_nothing(
    pg_app: Flask, admin: Engine, rp: RelyingParty, patron: Any
) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)

    def kill_before_token_insert(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        # The Authlib grant's INSERT, or the fast path's one statement (claim, pair and
        # audit row) on PostgreSQL: each time, the write is lost with its connection.
        if statement.startswith(("INSERT INTO tokens", "WITH claimed")):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    event.listen(db.engine, "before_cursor_execute", kill_before_token_insert)
    try:
        answer = rp.exchange(code)  # the code was already marked used: no second run
    finally:
        event.remove(db.engine, "before_cursor_execute", kill_before_token_insert)
    assert_unavailable(answer, json=True)
    assert answer.headers["Cache-Control"] == "no-store"
    # The failed transaction was rolled back: the same code still works once.
    assert rp.exchange(code).status_code == 200


def test_terminating_backends_under_load_gives_no_500(
    live_server: LiveServer, admin: Engine
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("terminating backends needs PostgreSQL (IDP_TEST_DATABASE_URL)")
    with live_server.app.app_context():
        db.engine.pool._pre_ping = False  # type: ignore[attr-defined]
    make_client("portal", secret=PORTAL_SECRET)
    card = make_patron("0300000088").card_number
    party = HttpRelyingParty("portal", PORTAL_SECRET, "https://portal.example.org/callback")
    node = live_server.url
    tokens = party.tokens(node, party.sign_in(node, card, DEFAULT_PASSWORD))
    cookie = {"idp_session": party.browser.cookies["idp_session"]}
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    basic = ("portal", PORTAL_SECRET)
    calls: list[tuple[str, bool, Callable[[], requests.Response]]] = [
        ("login", False, lambda: requests.get(node + "/login", timeout=TIMEOUT)),
        (
            "account",
            False,
            lambda: requests.get(node + "/account", cookies=cookie, timeout=TIMEOUT),
        ),
        (
            "userinfo",
            True,
            lambda: requests.get(node + "/userinfo", headers=bearer, timeout=TIMEOUT),
        ),
        (
            "introspect",
            True,
            lambda: requests.post(
                node + "/introspect",
                data={"token": tokens["access_token"]},
                auth=basic,
                timeout=TIMEOUT,
            ),
        ),
    ]
    results: list[tuple[str, bool, requests.Response]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(offset: int) -> None:
        index = offset
        while not stop.is_set():
            name, is_json, call = calls[index % len(calls)]
            response = call()
            with lock:
                results.append((name, is_json, response))
            index += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    killed = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        killed += terminate_backends(admin)
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT)
    statuses = [response.status_code for _, _, response in results]
    assert killed > 0
    assert 500 not in statuses
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) > len(statuses) // 2  # most lost connections were retried
    for name, is_json, response in results:
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "5", name
            if is_json:
                assert response.json()["error"] == "temporarily_unavailable", name
            else:
                assert response.headers["Content-Type"].startswith("text/html"), name
    # Once the killing stops, everything answers again.
    assert all(call().status_code == 200 for _, _, call in calls)
    assert requests.get(node + "/readyz", timeout=TIMEOUT).status_code == 200


def test_a_locked_sqlite_database_is_503_for_writes_only(
    make_app: Callable[..., Flask], app_config: dict[str, Any], patron: Any, portal: Any
) -> None:
    import sqlite3

    if not str(app_config["IDP_DATABASE_URL"]).startswith("sqlite"):
        pytest.skip("the SQLite write lock (PostgreSQL locks rows, not the database)")
    locked = make_app(IDP_SQLITE_BUSY_TIMEOUT=1)
    browser = locked.test_client()
    rp = RelyingParty.for_client(browser, portal, PORTAL_SECRET)
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    holder = sqlite3.connect(str(app_config["IDP_DATABASE_URL"]).removeprefix("sqlite:///"))
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        assert_unavailable(rp.exchange(code), json=True)  # redeeming the code writes
        assert_unavailable(
            RelyingParty.for_client(locked.test_client(), portal, PORTAL_SECRET).authorize(),
            json=False,
        )  # a pending request is a new session record
        assert browser.get("/login").status_code == 200  # reading goes on (WAL)
    finally:
        holder.rollback()
        holder.close()
    assert rp.exchange(code).status_code == 200  # nothing was half done
