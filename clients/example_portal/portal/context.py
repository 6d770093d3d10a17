"""What the views share: the IdP client, the session store, who we are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from portal.sessions import SessionStore


@dataclass
class Portal:
    """Built once by :func:`portal.create_app`."""

    #: Authlib's registered client for the library's IdP.
    library: Any
    store: SessionStore
    issuer: str
    client_id: str


def portal() -> Portal:
    """The current application's :class:`Portal`."""
    found: Portal = current_app.extensions["portal"]
    return found
