"""The browser session as the authorize fast path reads it: one SELECT for the session,
its patron and the client's state, and the throttled ``last_seen_at`` touch."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update

from idp.direct_sql import Direct
from idp.models.client import Client
from idp.models.patron import Patron
from idp.models.session import LoginSession
from idp.oauth.hot import PatronView
from idp.oauth.hot import client_columns
from idp.oauth.hot import patron_columns
from idp.oauth.hot import patron_of

_clients = Client.__table__
_patrons = Patron.__table__
_sessions = LoginSession.__table__

SESSION_FIELDS = ("id", "patron_id", "auth_time", "sid", "data", "clients", "expires_at")


class SessionView:
    """A browser's login session with its patron, and the state of the client a request
    names (``client_enabled``/``client_version`` None: no such client)."""

    id: int
    patron_id: int | None
    auth_time: int | None
    sid: str
    data: dict[str, Any]
    clients: list[str]
    expires_at: dt.datetime
    last_seen_at: dt.datetime
    client_enabled: bool | None
    client_version: int | None
    patron: PatronView | None


_SESSION_FOR_CLIENT: Any = (
    select(
        *[_sessions.c[n] for n in SESSION_FIELDS],
        _sessions.c.last_seen_at,
        *client_columns(),
        *patron_columns(),
    )
    .select_from(
        _sessions.outerjoin(_patrons, _patrons.c.id == _sessions.c.patron_id).outerjoin(
            _clients, _clients.c.client_id == bindparam("client_id")
        )
    )
    .where(_sessions.c.id_hash == bindparam("digest"))
)
TOUCH_SESSION = (
    update(_sessions)
    .where(_sessions.c.id == bindparam("session_id"))
    .values(clients=bindparam("clients"), last_seen_at=bindparam("last_seen_at"))
)
_SESSION_READ = Direct(_SESSION_FOR_CLIENT)
_DIRECT_TOUCH_SESSION = Direct(TOUCH_SESSION)


def load_session_for(connection: Connection, digest: str, client_id: str) -> SessionView | None:
    """The login session whose id hashes to ``digest``, with its patron and the state
    of client ``client_id``, in one SELECT."""
    row = _SESSION_READ.first(connection, {"digest": digest, "client_id": client_id})
    if row is None:
        return None
    view = SessionView()
    for name in (*SESSION_FIELDS, "last_seen_at"):
        setattr(view, name, row[name])
    enabled, version = row["c_enabled"], row["c_version"]
    view.client_enabled = None if enabled is None else bool(enabled)
    view.client_version = None if version is None else int(version)
    view.patron = patron_of(row)
    return view


def touch_session(
    connection: Connection, session_id: int, clients: list[str], last_seen_at: dt.datetime
) -> None:
    """Write a session's client list and last-seen time (in the open transaction)."""
    _DIRECT_TOUCH_SESSION.rowcount(
        connection,
        {"session_id": session_id, "clients": clients, "last_seen_at": last_seen_at},
    )
