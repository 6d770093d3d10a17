"""The token paths' statements, run straight on the driver's cursor.

SQLAlchemy's execution layer (the execution context, the result object and its row
proxies) costs several times what SQLite spends finding the row of a token or storing
one, and the token paths run the same few statements over and over. A :class:`Direct`
statement is compiled once per dialect (and, for an INSERT, per set of columns) by
SQLAlchemy, keeps the columns' own converters — those ``connection.execute`` applies:
timestamps normalised to UTC and made aware again, JSON encoded and decoded, SQLite's
integers made booleans — and runs on the connection's driver cursor. So the SQL, the
parameters and the values read are those of ``connection.execute(statement)``, without
the layer around them.

* It runs in the connection's transaction: a write first begins the connection's own
  (SQLAlchemy's) transaction, so that ``connection.commit()`` commits it and a connection
  closed uncommitted rolls it back, exactly as after ``connection.execute``.
* The engine's ``before_cursor_execute`` listeners still see every statement: the
  statement counters of the tests and of ``bench/cpu.py``, and the SQLite writers' queue
  (:mod:`idp.sqlite_writes`), which takes its lock before the first write.
* Whatever the driver refuses — a lost connection, a locked database, a constraint, an
  aborted transaction — is run once more through ``connection.execute``, so that
  SQLAlchemy raises its own error, invalidates a dead connection and the application
  answers as it does for any database error.
* Column defaults are not applied: an INSERT names every column it writes.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import Compiled

Converter = Callable[[Any], Any] | None
#: What :meth:`Direct._run` gives when the driver refused the statement.
_REFUSED: Any = object()


class _Plan:
    """A statement compiled for one dialect: SQL text, parameter order and converters,
    result keys and converters."""

    __slots__ = ("binds", "keys", "names", "positional", "readers", "sql")

    def __init__(self, compiled: Compiled) -> None:
        self.sql: str = compiled.string
        self.positional = bool(compiled.positional)  # type: ignore[attr-defined]
        names = compiled.positiontup or compiled.bind_names.values()  # type: ignore[attr-defined]
        self.names: tuple[str, ...] = tuple(names)
        processors = compiled._bind_processors  # type: ignore[attr-defined]
        self.binds: tuple[tuple[str, Converter], ...] = tuple(
            (name, processors.get(name)) for name in self.names
        )
        columns = getattr(compiled, "_result_columns", None) or []
        self.keys: tuple[str, ...] = tuple(column.keyname for column in columns)
        self.readers: tuple[Converter, ...] = tuple(
            column.type._cached_result_processor(compiled.dialect, None) for column in columns
        )

    def parameters(self, values: Mapping[str, Any]) -> Any:
        converted = [
            (name, convert(values[name]) if convert is not None else values[name])
            for name, convert in self.binds
        ]
        if self.positional:
            return tuple(value for _, value in converted)
        return dict(converted)

    def row(self, raw: tuple[Any, ...]) -> dict[str, Any]:
        return {
            key: (convert(value) if convert is not None and value is not None else value)
            for key, convert, value in zip(self.keys, self.readers, raw, strict=True)
        }


class Direct:
    """``statement`` (a SELECT of at most one row, an UPDATE, an INSERT of one row) on the
    driver's cursor."""

    __slots__ = ("_plans", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def _plan(self, dialect: Dialect, values: Mapping[str, Any]) -> _Plan:
        columns = tuple(values)
        plan = self._plans.get((dialect.name, columns))
        if plan is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(columns))  # type: ignore[attr-defined]
            plan = self._plans[(dialect.name, columns)] = _Plan(compiled)
        return plan

    def first(self, connection: Connection, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row the SELECT finds for ``values``, keyed by label (None: no row)."""
        found = self._run(connection, values, write=False)
        if found is _REFUSED:
            row = connection.execute(self.statement, dict(values)).first()
            return None if row is None else dict(row._mapping)
        return found  # type: ignore[no-any-return]

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row (None: no row)."""
        row = self.first(connection, values)
        return None if row is None else next(iter(row.values()))

    def rowcount(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run the UPDATE or INSERT in the connection's transaction; the rows it touched."""
        if not connection.in_transaction():
            connection.begin()
        count = self._run(connection, values, write=True)
        if count is _REFUSED:
            result = connection.execute(self.statement, dict(values))
            return int(result.rowcount)
        return count  # type: ignore[no-any-return]

    def _run(self, connection: Connection, values: Mapping[str, Any], *, write: bool) -> Any:
        """The row read (SELECT) or the row count (write); ``_REFUSED`` if the driver
        refused the statement (the caller runs it through SQLAlchemy)."""
        dialect = connection.dialect
        plan = self._plan(dialect, values)
        parameters = plan.parameters(values)
        driver = connection.connection.dbapi_connection
        if driver is None:
            return _REFUSED
        cursor = driver.cursor()
        try:
            listeners = connection.dispatch.before_cursor_execute
            if listeners:
                listeners(connection, cursor, plan.sql, parameters, None, False)
            cursor.execute(plan.sql, parameters)
            if write:
                return int(cursor.rowcount)
            raw = cursor.fetchone()
        except dialect.loaded_dbapi.Error:
            return _REFUSED
        finally:
            cursor.close()
        return None if raw is None else plan.row(tuple(raw))
