"""The token paths' SELECTs on the driver's cursor read what SQLAlchemy reads
(idp/oauth/direct.py), on SQLite and on PostgreSQL alike."""

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

from idp.extensions import db
from idp.oauth import hot
from idp.oauth.direct import DirectSelect
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
        direct = DirectSelect(statement).first(connection, {"digest": digest})
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
        assert DirectSelect(hot._BY_ACCESS).first(connection, {"digest": "0" * 64}) is None


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
    broken = DirectSelect(select(missing.c.id).where(missing.c.id == bindparam("digest")))
    with app.app_context(), db.engine.connect() as connection, pytest.raises(DBAPIError):
        broken.first(connection, {"digest": "x"})


def test_parameters_that_need_converting_are_refused(app: Flask) -> None:
    from idp.models.token import Token

    tokens = Token.__table__
    # UTCDateTime converts its parameters: not a direct SELECT's kind.
    statement = select(tokens.c.id).where(tokens.c.issued_at == bindparam("at"))
    with app.app_context(), db.engine.connect() as connection, pytest.raises(ValueError):
        DirectSelect(statement).first(connection, {"at": dt.datetime.now(dt.UTC)})
