"""Database engine settings: a pool per worker on PostgreSQL, WAL and a busy timeout on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from idp import engine_options
from idp.extensions import db
from idp.settings import app_settings
from idp.settings import load_settings


def test_postgresql_pool_comes_from_the_configuration() -> None:
    settings = load_settings(
        {},
        {
            "IDP_DATABASE_URL": "postgresql+psycopg://idp@db/idp",
            "IDP_DB_POOL_SIZE": 3,
            "IDP_DB_MAX_OVERFLOW": 7,
        },
    )
    # No pre-ping (a round trip per request): recycling and disconnect handling instead.
    assert engine_options(settings.database) == {
        "hide_parameters": True,
        "pool_size": 3,
        "max_overflow": 7,
        "pool_timeout": 10,
        "pool_recycle": 1800,
    }


def test_the_engine_uses_the_pool_settings(
    make_app: Callable[..., Flask], app_config: dict[str, Any]
) -> None:
    app = make_app(IDP_DB_POOL_SIZE=2, IDP_DB_MAX_OVERFLOW=1)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            assert engine_options(app_settings(app).database)["connect_args"]["timeout"] == 30
            return
        assert db.engine.pool.size() == 2  # type: ignore[attr-defined]
        assert db.engine.pool._max_overflow == 1  # type: ignore[attr-defined]
        assert not db.engine.pool._pre_ping


def test_sqlite_runs_in_wal_mode(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_database_errors_never_carry_the_bound_values(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed INSERT's message and log line name the statement, never card or hash."""
    import logging

    from sqlalchemy.exc import IntegrityError

    from idp.models.patron import Patron
    from tests.support.factories import make_patron

    patron = make_patron("1234567897")
    duplicate = Patron(
        card_number=patron.card_number,
        password_hash="$argon2id$secret-hash-value",
        expires_on=patron.expires_on,
    )
    db.session.add(duplicate)
    with pytest.raises(IntegrityError) as raised:
        db.session.commit()
    db.session.rollback()
    logging.getLogger("idp.test").error("database error", exc_info=raised.value)
    logged = caplog.text + str(raised.value)
    assert "INSERT INTO patrons" in logged
    assert "1234567897" not in logged
    assert "secret-hash-value" not in logged
    assert "hidden due to hide_parameters" in logged


def test_sqlite_checkpoints_the_wal_at_its_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(IDP_SQLITE_WAL_AUTOCHECKPOINT=2500)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite only")
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 2500
