"""How many SQL statements each hot request costs (docs/performance.md): a regression
here is a slowdown. Counted on the engine, so both token paths are covered."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from idp.extensions import db
from idp.views.support.fast import fast_path_of
from tests.conftest import ISSUER
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of


@contextmanager
def counted() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _server_side(rp: Any) -> Any:
    """The relying party's back channel: no browser cookie (and no login session)."""
    return dataclasses.replace(rp, browser=rp.browser.application.test_client())


def _basic() -> dict[str, str]:
    raw = f"portal:{PORTAL_SECRET}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def tokens(rp: Any, patron: Any) -> dict[str, Any]:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    body: dict[str, Any] = rp.exchange(code).get_json()
    return body


def _redemption(token_path: str) -> list[str]:
    """A redemption's writes: the claim, the new pair and its audit row — on
    PostgreSQL's fast path one statement (a data-modifying WITH)."""
    if token_path == "fast_path" and db.engine.dialect.name == "postgresql":
        return ["WITH"]
    return ["UPDATE", "INSERT", "INSERT"]


@contextmanager
def statement_texts() -> Iterator[list[str]]:
    """The statements sent, whole, on one line each."""
    texts: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        texts.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield texts
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@contextmanager
def in_autocommit() -> Iterator[list[bool]]:
    """Whether each statement ran in autocommit (PostgreSQL: no BEGIN and no COMMIT
    round trips around it)."""
    modes: list[bool] = []

    def record(conn: Any, cursor: Any, *args: Any) -> None:
        modes.append(bool(conn.connection.dbapi_connection.autocommit))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield modes
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_code_exchange_statements(rp: Any, patron: Any, token_path: str) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    code = rp.code_from(rp.authorize())
    with counted() as statements:
        assert _server_side(rp).exchange(code).status_code == 200
    # the code with its client's state and patron; the claim, the token, the audit row
    expected = ["SELECT", *_redemption(token_path)]
    if token_path == "authlib":
        expected = ["SELECT", "SELECT", "INSERT", "UPDATE", "INSERT"]  # the client first
    assert statements == expected


def test_refresh_statements(rp: Any, tokens: dict[str, Any], token_path: str) -> None:
    with counted() as statements:
        assert _server_side(rp).refresh(tokens["refresh_token"]).status_code == 200
    expected = ["SELECT", *_redemption(token_path)]
    if token_path == "authlib":
        expected = ["SELECT", "SELECT", "UPDATE", "INSERT", "INSERT"]
    assert statements == expected


def test_the_fast_paths_writes_on_postgresql_are_single_statements(
    rp: Any, tokens: dict[str, Any], token_path: str
) -> None:
    """The fast path's reads and its one write (a redemption, a code with its audit row)
    each run in autocommit: no BEGIN or COMMIT is sent around them."""
    if token_path != "fast_path" or db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's fast path only (SQLite has no data-modifying WITH)")
    with in_autocommit() as modes:
        assert _server_side(rp).refresh(tokens["refresh_token"]).status_code == 200
    assert modes == [True, True]
    with in_autocommit() as modes:
        code = rp.code_from(rp.authorize())  # the session, the nonce; the code
    assert modes == [True, True, True]
    with in_autocommit() as modes:
        assert _server_side(rp).exchange(code).status_code == 200
    assert modes == [True, True]


def test_userinfo_and_introspection_are_one_select(rp: Any, tokens: dict[str, Any]) -> None:
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    server = _server_side(rp).browser
    with counted() as statements:
        assert server.get("/userinfo", headers=bearer).status_code == 200
    assert statements == ["SELECT"]
    with counted() as statements:
        answer = server.post(
            "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
        )
        assert answer.get_json()["active"] is True
    # the token with its client's state and patron (Authlib: the client first)
    assert statements[-1] == "SELECT" and len(statements) <= 2


def test_authorize_validates_the_request_once(rp: Any, patron: Any, token_path: str) -> None:
    """With a live session: the client is read once, the nonce checked once."""
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    rp.code_from(rp.authorize())  # the session has seen the client: no UPDATE of it
    with statement_texts() as texts:
        response = rp.authorize()
    assert query_of(response)["iss"] == ISSUER  # RFC 9207 on the success too
    rp.code_from(response)
    client_reads = [t for t in texts if t.startswith("SELECT") and "JOIN clients" in t]
    if token_path == "authlib":
        client_reads = [t for t in texts if t.startswith("SELECT") and "FROM clients" in t]
    nonce_checks = [t for t in texts if "authorization_codes.nonce" in t and "EXISTS" in t]
    assert len(client_reads) == 1, client_reads
    assert len(nonce_checks) == 1, nonce_checks
    if token_path == "fast_path":
        # the session with its patron and the client's state; the nonce; the code and
        # its audit row (PostgreSQL: one statement)
        writes = ["WITH"] if db.engine.dialect.name == "postgresql" else ["INSERT", "INSERT"]
        assert [t.split(None, 1)[0] for t in texts] == ["SELECT", "SELECT", *writes]


def test_a_sign_in_writes_the_session_only_where_it_changes(
    rp: Any, patron: Any, token_path: str
) -> None:
    """The login page writes nothing (its CSRF token was made with the session, when the
    request was stored) and reads its client's state, not the whole registration (the
    process's registry has it); after the password, the request's replay is answered
    like any signed-in one — by the fast path when it is on — since a request that asks
    for no fresh sign-in leaves no mark in the session to drop."""
    path = fast_path_of(rp.browser.application)
    assert path is not None
    started = rp.authorize(scope="openid offline_access")
    with statement_texts() as texts:
        page = rp.browser.get(started.headers["Location"])
    assert page.status_code == 200
    assert len(texts) == 2 and all(text.startswith("SELECT") for text in texts), texts
    assert "FROM login_sessions" in texts[0]
    assert texts[1].startswith("SELECT clients.is_enabled, clients.version FROM clients"), texts
    rid = query_of(started)["rid"]
    posted = rp.browser.post(
        "/login",
        data={
            "card_number": patron.card_number,
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "rid": rid,
        },
    )
    assert posted.headers["Location"].startswith("/authorize?")
    answered = path.answered
    code = rp.code_from(rp.browser.get(posted.headers["Location"]))
    assert path.answered == answered + (token_path == "fast_path")
    assert "id_token" in rp.exchange(code).get_json()


def test_the_single_statement_writes_bind_every_column_their_rows_carry(rp: Any) -> None:
    """PostgreSQL's one-statement writes bind the columns by list; SQLite's INSERTs take
    the rows' own keys. The lists and the row builders must name the same columns."""
    import datetime as dt

    from idp.oauth import authorization
    from idp.oauth import claims
    from idp.services import audit

    now = dt.datetime.now(dt.UTC)
    token = {"access_token": "a", "refresh_token": "r", "expires_in": 60, "scope": "openid"}
    row = claims.token_row(
        token, client_id="portal", patron_id=1, family=("f", None, None), now=now, refresh_ttl=60
    )
    assert tuple(row) == claims.TOKEN_COLUMNS
    code = authorization.code_values(
        "c",
        client_id="portal",
        patron_id=1,
        data={},
        scope="openid",
        login=(None, None, None),
        now=now,
        ttl=60,
    )
    assert tuple(code) == authorization.CODE_COLUMNS
    assert tuple(audit.row_for("token.issued", grant="x").values) == audit.COLUMNS
