"""SQLite: writers queue on a file lock instead of in SQLite's busy handler.

SQLite lets one writer at a time hold the database (WAL keeps readers free). A writer
that finds it taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 … up to
100 ms between attempts: under a steady stream of short write transactions from
several processes (token requests), most of the time goes to sleeping while the lock
is already free again. Here every connection takes an exclusive ``flock`` on
``<database>.write-lock`` just before its first write statement and lets go when the
connection goes back to the pool (after its commit or rollback), when the fast path
says it has committed (:func:`release`) or when SQLite says the statement ended the
transaction: a waiting writer is woken by the kernel the
moment the previous one is done. Reads never take it.

A thread that already holds the lock through another connection does not wait for
itself: that connection falls back to SQLite's own busy handling.
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import event

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HELD = "idp_write_lock_held"
_FD = "idp_write_lock_fd"
_holding = threading.local()


def _release(info: dict[str, Any]) -> None:
    if info.get(_HELD):
        fcntl.flock(info[_FD], fcntl.LOCK_UN)
        info[_HELD] = False
        _holding.count = max(0, getattr(_holding, "count", 0) - 1)


def release(connection: Connection) -> None:
    """Let go of the write lock ``connection`` holds, once its transaction has been
    committed or rolled back: for a connection kept checked out after its write
    (:class:`idp.views.support.fast._Kept`). Nothing to do elsewhere: every other
    connection lets go when it goes back to the pool. A no-op on a connection that holds
    none (PostgreSQL, SQLite reads)."""
    _release(connection.info)


def install(
    engine: Engine, database_path: str, synchronous: str = "normal", autocheckpoint: int = 10000
) -> None:
    """Queue the writers of ``engine`` (a SQLite file at ``database_path``).

    :param synchronous: SQLite's ``synchronous`` setting (``IDP_SQLITE_SYNCHRONOUS``):
        ``normal`` (WAL: no fsync per commit; a commit survives a crash of the
        process, the last ones may roll back on power loss — each with everything it
        wrote, so the database stays consistent) or ``full`` (fsync every commit).
    :param autocheckpoint: SQLite's ``wal_autocheckpoint`` (``IDP_SQLITE_WAL_AUTOCHECKPOINT``):
        WAL pages written before a commit copies them back into the database file.
    """
    lock_path = database_path + ".write-lock"
    pragmas = (
        f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}",
        f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}",
    )

    @event.listens_for(engine, "connect")
    def _open(dbapi_connection: Any, record: Any) -> None:
        record.info[_FD] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        record.info[_HELD] = False
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "close")
    def _close(dbapi_connection: Any, record: Any) -> None:
        _release(record.info)
        if _FD in record.info:
            os.close(record.info.pop(_FD))

    # retval: called as it is, without SQLAlchemy's wrapper (it runs before every statement).
    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _before(
        conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any
    ) -> tuple[str, Any]:
        info = conn.info
        if (
            not info.get(_HELD)
            and _FD in info
            and statement.lstrip()[:7].upper().startswith(_WRITES)
            # Not when this thread holds it through another connection.
            and not getattr(_holding, "count", 0)
        ):
            fcntl.flock(info[_FD], fcntl.LOCK_EX)
            info[_HELD] = True
            _holding.count = getattr(_holding, "count", 0) + 1
        return statement, parameters

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, *args: Any) -> None:
        info = conn.info
        if info.get(_HELD) and not conn.connection.dbapi_connection.in_transaction:
            _release(info)  # autocommit: the statement was its own transaction

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        connection = context.connection
        if connection is not None and not connection.invalidated:
            raw = connection.connection.dbapi_connection
            if raw is not None and not raw.in_transaction:
                _release(connection.info)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        _release(record.info)
