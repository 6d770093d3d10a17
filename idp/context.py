"""The per-application service container and its one accessor for views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from flask import current_app

from idp.models.types import utcnow

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import ResourceProtector

    from idp.oauth.keys import KeyStore
    from idp.oauth.server import LibraryAuthorizationServer
    from idp.services.passwords import Passwords
    from idp.settings import Settings


@dataclass
class IdpServices:
    """Everything :func:`idp.create_app` builds once per application."""

    config: dict[str, Any]
    #: The typed settings, read and checked once at start (:mod:`idp.settings`).
    settings: Settings
    passwords: Passwords
    keys: KeyStore
    authorization: LibraryAuthorizationServer
    require_oauth: ResourceProtector
    #: The clock; tests replace it to travel in time.
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    #: Feature services registered by later modules (mail, throttling, card codes, …).
    extra: dict[str, Any] = field(default_factory=dict)

    def now(self) -> dt.datetime:
        """The current time from the configured clock (aware, UTC)."""
        return self.clock()


def services() -> IdpServices:
    """The services of the current application."""
    found: IdpServices = current_app.extensions["idp"]
    return found
