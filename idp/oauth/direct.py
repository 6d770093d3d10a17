"""One SELECT of the token paths, run straight on the driver's cursor.

SQLAlchemy's execution layer (the execution context, the result object and its row
proxies) costs several times what SQLite spends finding the row of a token, and the
token paths run the same few SELECTs over and over. A :class:`DirectSelect` compiles its
statement once per dialect with SQLAlchemy, keeps the result columns' own converters (the
same ones a ``Result`` applies: timestamps made aware, SQLite's integers made booleans),
and runs it on the connection's driver cursor. So the SQL, the parameters and the values
read are those of ``connection.execute(statement)``, without the layer around them.

What still sees every statement: the engine's ``before_cursor_execute`` listeners (the
statement counters of the tests and of ``bench/cpu.py``, the SQLite writers' queue in
:mod:`idp.sqlite_writes`, which lets a SELECT through). Whatever the driver refuses —
a lost connection, a locked database, an aborted transaction — is run once more through
``connection.execute``, so that SQLAlchemy turns it into its own error, invalidates a dead
connection and the application answers as it does for any database error.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

Converter = Callable[[Any], Any] | None


class _Plan:
    """A statement compiled for one dialect: SQL text, parameter order, converters."""

    __slots__ = ("converters", "keys", "names", "positional", "sql")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled._bind_processors:
            # Parameters that need converting are not what this is for: digests and ids.
            raise ValueError("a direct SELECT takes parameters the driver reads as they are")
        self.sql: str = compiled.string
        self.positional = bool(compiled.positional)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        columns = compiled._result_columns
        self.keys: tuple[str, ...] = tuple(column.keyname for column in columns)
        self.converters: tuple[Converter, ...] = tuple(
            column.type._cached_result_processor(dialect, None) for column in columns
        )

    def parameters(self, values: Mapping[str, Any]) -> Any:
        if self.positional:
            return tuple(values[name] for name in self.names)
        return dict(values)

    def row(self, raw: tuple[Any, ...]) -> dict[str, Any]:
        return {
            key: (convert(value) if convert is not None and value is not None else value)
            for key, convert, value in zip(self.keys, self.converters, raw, strict=True)
        }


class DirectSelect:
    """``statement`` (a SELECT of at most one row), run on the driver's cursor."""

    __slots__ = ("_plans", "statement")

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _Plan(self.statement, dialect)
        return plan

    def first(self, connection: Connection, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row for ``values``, keyed by column label (None: no row)."""
        dialect = connection.dialect
        plan = self._plan(dialect)
        parameters = plan.parameters(values)
        driver = connection.connection.dbapi_connection
        if driver is None:
            return self._through_sqlalchemy(connection, values)
        cursor = driver.cursor()
        try:
            listeners = connection.dispatch.before_cursor_execute
            if listeners:
                listeners(connection, cursor, plan.sql, parameters, None, False)
            cursor.execute(plan.sql, parameters)
            raw = cursor.fetchone()
        except dialect.loaded_dbapi.Error:
            cursor.close()
            return self._through_sqlalchemy(connection, values)
        cursor.close()
        return None if raw is None else plan.row(tuple(raw))

    def _through_sqlalchemy(
        self, connection: Connection, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        row = connection.execute(self.statement, dict(values)).first()
        return None if row is None else dict(row._mapping)
