"""The token paths' statements on the driver's cursor read what SQLAlchemy reads
(idp/direct_sql.py), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam
from sqlalchemy import column
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import table
from sqlalchemy.exc import DBAPIError

from idp.direct_sql import Direct
from idp.extensions import db
from idp.oauth import hot
from idp.oauth.tokens import token_hash
from tests.support.factories import DEFAULT_PASSWORD


@pytest.fixture
def tokens(rp: Any, patron: Any) -> dict[str, Any]:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    body: dict[str, Any] = rp.exchange(code).get_json()
    return body


@pytest.mark.parametrize("key", ["access_token", "refresh_token"])
def test_a_token_row_reads_as_through_sqlalchemy(
    app: Flask, tokens: dict[str, Any], key: str
) -> None:
    statement = hot._BY_ACCESS if key == "access_token" else hot._BY_REFRESH
    digest = token_hash(tokens[key])
    with app.app_context(), db.engine.connect() as connection:
        direct = Direct(statement).first(connection, {"digest": digest})
        through = connection.execute(statement, {"digest": digest}).first()
    assert through is not None
    assert direct == dict(through._mapping)
    assert direct is not None
    # The converters ran: aware timestamps, booleans, a date.
    assert direct["issued_at"].tzinfo is dt.UTC
    assert direct["c_enabled"] is True
    assert direct["p_is_email_verified"] in (True, False)
    assert isinstance(direct["p_expires_on"], dt.date)


def test_no_row_is_none(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        assert Direct(hot._BY_ACCESS).first(connection, {"digest": "0" * 64}) is None


def test_the_engine_listeners_see_the_statement(app: Flask, tokens: dict[str, Any]) -> None:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    digest = token_hash(tokens["access_token"])
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            with db.engine.connect() as connection:
                hot.load_access_token(connection, digest)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert len(seen) == 1
    statement, parameters = seen[0]
    assert statement.lstrip().upper().startswith("SELECT")
    assert digest in (parameters.values() if isinstance(parameters, dict) else parameters)


def test_a_driver_error_comes_out_as_sqlalchemys(app: Flask) -> None:
    missing = table("no_such_table", column("id"))
    broken = Direct(select(missing.c.id).where(missing.c.id == bindparam("digest")))
    with app.app_context(), db.engine.connect() as connection, pytest.raises(DBAPIError):
        broken.first(connection, {"digest": "x"})


def _token_values(now: dt.datetime, digest: str) -> dict[str, Any]:
    return {
        "client_id": "portal",
        "patron_id": None,
        "scope": "openid",
        "access_token_hash": digest,
        "refresh_token_hash": None,
        "family_id": "direct-test",
        "sid": None,
        "parent_id": None,
        "issued_at": now,
        "access_expires_at": now + dt.timedelta(hours=1),
        "refresh_expires_at": None,
        "kept_until": now + dt.timedelta(hours=1),
        "rotated_at": None,
        "revoked_at": None,
        "reused_at": None,
    }


def test_a_write_is_committed_with_its_connection(
    app: Flask, portal: Any, now: dt.datetime
) -> None:
    insert_token = Direct(hot.INSERT_TOKEN)
    with app.app_context(), db.engine.connect() as connection:
        assert insert_token.rowcount(connection, _token_values(now, "a" * 64)) == 1
        connection.commit()
        assert insert_token.rowcount(connection, _token_values(now, "b" * 64)) == 1
        # closed uncommitted: rolled back
    with app.app_context(), db.engine.connect() as connection:
        stored = hot.load_access_token(connection, "a" * 64)
        assert hot.load_access_token(connection, "b" * 64) is None
    assert stored is not None
    # Bound through the column's converter, read back through it: the same instant.
    assert stored.issued_at == now
    assert stored.access_expires_at == now + dt.timedelta(hours=1)


def test_an_update_counts_the_rows_it_changed(app: Flask, portal: Any, now: dt.datetime) -> None:
    from idp.oauth.claims import claim_refresh

    with app.app_context(), db.engine.connect() as connection:
        Direct(hot.INSERT_TOKEN).rowcount(connection, _token_values(now, "c" * 64))
        token = hot.load_access_token(connection, "c" * 64)
        assert token is not None
        assert claim_refresh(connection, token.id, now) is True
        assert claim_refresh(connection, token.id, now) is False  # single use
        connection.commit()


def test_a_refused_write_comes_out_as_sqlalchemys(
    app: Flask, portal: Any, now: dt.datetime
) -> None:
    insert_token = Direct(hot.INSERT_TOKEN)
    with app.app_context(), db.engine.connect() as connection:
        insert_token.rowcount(connection, _token_values(now, "d" * 64))
        with pytest.raises(DBAPIError):  # the same access token hash twice
            insert_token.rowcount(connection, _token_values(now, "d" * 64))
