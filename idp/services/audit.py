"""Audit log writer: security events with who, what, where — never a secret (SPEC §6)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any
from typing import NamedTuple

from sqlalchemy import CTE
from sqlalchemy import Connection
from sqlalchemy import Insert
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.direct_sql import Direct
from idp.extensions import db
from idp.metrics import current_metrics
from idp.models.audit import AuditEvent
from idp.redaction import redact
from idp.services.container import container

log = logging.getLogger("idp.audit")

#: Keys that must never be stored, whatever a caller passes.
_FORBIDDEN = {"password", "new_password", "code", "access_token", "refresh_token", "token"}


def record(
    event: str,
    *,
    patron_id: int | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    actor: str | None = None,
    session: Session | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the current database session (or to ``session``).

    It is saved with the rest of the request's (or command's) work, by the face that
    owns the transaction: an audit row is never committed apart from what it records.
    A refused sign-in is recorded in a session of its own, with the failure it counts
    (:func:`idp.services.signin.core.refusal`).

    :param event: dotted event name, e.g. ``login.failed``.
    :param actor: the staff member or operator who did it (see
        :class:`idp.services.staff.actor.Actor`, which adds role, channel and reason).
    :param session: a session of its own instead of the face's.
    :return: the new row.
    """
    values = _values(event, patron_id, client_id, ip, user_agent, detail)
    row = AuditEvent(actor=actor, **values)
    (session or db.session).add(row)
    _announce(event, patron_id, client_id, ip, values["detail"])
    return row


def record_in(connection: Connection, event: str, **fields: Any) -> None:
    """Like :func:`record`, as one Core INSERT on ``connection`` (in its transaction):
    for the token paths, which write their rows without the ORM unit of work. The
    fields are those of :func:`insert_in`."""
    insert_in(connection, event, **fields)()


def insert_in(
    connection: Connection,
    event: str,
    *,
    patron_id: int | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    **detail: Any,
) -> Callable[[], None]:
    """:func:`record_in`, with the log line and the metric left to the caller: it calls
    the returned function once it has committed. On SQLite the transaction holds the
    database's write lock until then, and a log line written inside it (formatting and
    a write to the log stream) would hold every other writer back with it."""
    row = row_for(
        event, patron_id=patron_id, client_id=client_id, ip=ip, user_agent=user_agent, **detail
    )
    insert_row(connection, row.values)
    return row.announce


class Row(NamedTuple):
    """An audit row's columns, and its announcement (the log line and the metric), to
    be made once the transaction that writes the row has committed."""

    values: dict[str, Any]
    announce: Callable[[], None]


def row_for(
    event: str,
    *,
    patron_id: int | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    **detail: Any,
) -> Row:
    """The audit row of ``event``, for a writer that inserts it itself (the token
    paths: :func:`idp.oauth.claims.redeem`); the fields are those of :func:`record`."""
    values = _values(event, patron_id, client_id, ip, user_agent, detail)
    return Row(values, partial(_announce, event, patron_id, client_id, ip, values["detail"]))


def insert_row(connection: Connection, values: dict[str, Any]) -> None:
    """INSERT the audit row ``values`` (of :func:`row_for`) in ``connection``'s transaction."""
    _DIRECT_INSERT.rowcount(connection, values)


#: The columns of an audit row the token paths write (:func:`_values`' keys).
COLUMNS = ("created_at", "event", "patron_id", "client_id", "ip", "user_agent", "detail")


def insert_after(source: CTE) -> Insert:
    """The INSERT of one audit row (its columns bound as ``a_<column>``:
    :func:`bound`) for each row ``source`` returns: the write and the audit row that
    records it in one statement (PostgreSQL's data-modifying ``WITH``), so that the row
    is written exactly when the write is."""
    table = AuditEvent.__table__
    binds = (bindparam(f"a_{name}", type_=table.c[name].type) for name in COLUMNS)
    return insert(table).from_select(COLUMNS, select(*binds).select_from(source))


def bound(values: dict[str, Any]) -> dict[str, Any]:
    """An audit row of :func:`row_for` as the parameters of :func:`insert_after`."""
    return {f"a_{name}": values[name] for name in COLUMNS}


_INSERT = insert(AuditEvent.__table__)
#: The token paths' audit row, on the driver's cursor (:mod:`idp.direct_sql`).
_DIRECT_INSERT = Direct(_INSERT)


def _values(
    event: str,
    patron_id: int | None,
    client_id: str | None,
    ip: str | None,
    user_agent: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """An audit row's columns, cleaned the same way for both writers: no forbidden key,
    secrets redacted from the detail, no NUL (PostgreSQL text cannot hold one)."""
    return {
        # The application's clock, like every other timestamp (tests move it).
        "created_at": container().now(),
        "event": event,
        "patron_id": patron_id,
        "client_id": client_id,
        # Header values may carry NUL.
        "ip": ip.replace("\x00", "") if ip else ip,
        "user_agent": (user_agent or "").replace("\x00", "")[:300] or None,
        "detail": {
            k: redact(v) if isinstance(v, str) else v
            for k, v in detail.items()
            if k not in _FORBIDDEN
        },
    }


def _announce(
    event: str, patron_id: int | None, client_id: str | None, ip: str | None, clean: dict[str, Any]
) -> None:
    log.info("%s patron=%s client=%s ip=%s", event, patron_id, client_id, ip)
    if event == "token.issued" and (metrics := current_metrics()):
        metrics.tokens.labels(str(clean.get("grant", "unknown"))).inc()
