"""Database engine settings: a pool per worker on PostgreSQL, WAL and a busy timeout on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from idp import engine_options
from idp.config import DEFAULTS
from idp.extensions import db


def test_postgresql_pool_comes_from_the_configuration() -> None:
    config = {
        **DEFAULTS,
        "IDP_DATABASE_URL": "postgresql+psycopg://idp@db/idp",
        "IDP_DB_POOL_SIZE": 3,
        "IDP_DB_MAX_OVERFLOW": 7,
    }
    assert engine_options(config) == {
        "hide_parameters": True,
        "pool_pre_ping": True,
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
            assert engine_options(app.config)["connect_args"]["timeout"] == 30
            return
        assert db.engine.pool.size() == 2  # type: ignore[attr-defined]
        assert db.engine.pool._max_overflow == 1  # type: ignore[attr-defined]
        assert db.engine.pool._pre_ping


def test_sqlite_runs_in_wal_mode(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
