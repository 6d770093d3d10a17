"""Registered clients kept in the process, each valid for one registration version."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models.client import Client


class ClientRegistry:
    """Registered clients kept in the process, each valid for one ``version``.

    :meth:`get` is given the version the caller just read from the database (with the
    token or code, or by :func:`client_state`); an entry of another version is loaded
    again, so a registration change is never served stale. Entries are detached model
    instances that nothing writes to (``idp clients`` writes through its own session).
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, Client]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str, version: int) -> Client | None:
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] == version:
            return entry[1]
        with Session(db.engine, expire_on_commit=False) as session:
            client: Client | None = session.scalar(
                select(Client).where(Client.client_id == client_id)
            )
            if client is None:
                return None
            session.expunge(client)
        with self._lock:
            self._entries[client_id] = (client.version, client)
        # Read after the caller's own read: never older than the version it saw.
        return client

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
