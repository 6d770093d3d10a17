"""Flask extensions, created unbound at import and bound in :func:`idp.create_app`.

The OAuth server is per application (it holds registered grants), so it lives in
``app.extensions["idp"]`` instead: see :mod:`idp.services.container`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask import Flask
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from idp.lazy_command import LazyCommand

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: Rows stay readable after a commit without a new SELECT each: a request commits its
#: claim (code, refresh token) and then still reads the same rows to build the answer.
#: Every request gets a new session, so nothing stale outlives the request.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
babel = Babel()

_View = TypeVar("_View", bound=Callable[..., Any])


def upsert_insert(dialect: str) -> Callable[..., Any]:
    """The ``insert`` with ``on_conflict_do_update`` of a dialect (PostgreSQL or SQLite).

    Imported on first use: a process loads only the dialect it talks to.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def csrf_exempt(view: _View) -> _View:
    """Exempt a protocol endpoint (client-authenticated, not a browser form) from CSRF."""
    csrf.exempt(view)
    return view


class _LazyMigrateConfig:
    """``app.extensions["migrate"]`` that imports Flask-Migrate (and Alembic) on first use.

    Only the ``idp init`` and ``idp db`` commands and the tests' schema set-up migrate;
    a serving worker never does, and Alembic with Mako weighs about 11 MB per process.
    """

    def __init__(self, app: Flask, directory: str) -> None:
        self._app = app
        self._directory = directory
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._real is None:
            from flask_migrate import Migrate

            # Flask-Migrate's own set-up replaces this stand-in in app.extensions (and
            # the lazy ``db`` group with its real one).
            Migrate(self._app, db, directory=self._directory)
            self._real = self._app.extensions["migrate"]
        return getattr(self._real, name)


def init_migrations(app: Flask, directory: str) -> None:
    """Make ``flask_migrate.upgrade`` and ``idp db`` work without importing Alembic now."""
    app.extensions["migrate"] = _LazyMigrateConfig(app, directory)
    app.cli.add_command(
        LazyCommand("db", "flask_migrate.cli", "db", "Perform database migrations.")
    )
