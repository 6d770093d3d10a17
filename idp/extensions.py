"""Flask extensions, created unbound at import and bound in :func:`idp.create_app`.

The OAuth server is per application (it holds registered grants), so it lives in
``app.extensions["idp"]`` instead: see :mod:`idp.context`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()

_View = TypeVar("_View", bound=Callable[..., Any])


def csrf_exempt(view: _View) -> _View:
    """Exempt a protocol endpoint (client-authenticated, not a browser form) from CSRF."""
    csrf.exempt(view)
    return view
