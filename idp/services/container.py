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
from idp.redis_client import EXTRA_KEY as REDIS_KEY
from idp.redis_client import SharedRedis
from idp.redis_client import build_shared_redis

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.integrations.flask_oauth2 import ResourceProtector

    from idp.services.keys import KeyStore
    from idp.services.passwords import Passwords


@dataclass
class IdpServices:
    """Everything :func:`idp.create_app` builds once per application."""

    config: dict[str, Any]
    passwords: Passwords
    keys: KeyStore
    #: idp.oauth.server.LibraryAuthorizationServer, named by Authlib's class: the
    #: services layer does not import the OAuth wiring above it.
    authorization: AuthorizationServer
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


def shared_redis() -> SharedRedis | None:
    """The application's shared Redis (created on first use), or None without Redis.

    Made again when ``IDP_REDIS_URL`` no longer matches (a test that changes the URL).
    """
    svc = services()
    url = svc.config.get("IDP_REDIS_URL") or None
    found: SharedRedis | None = svc.extra.get(REDIS_KEY)
    if (found.url if found is not None else None) != url:
        found = svc.extra[REDIS_KEY] = build_shared_redis(svc.config)
    return found
