"""The per-application services: one typed container, built once by :func:`idp.create_app`.

Every field is made when the application is built (no service is created on first use,
so two threads never race to make one). Tests that change a setting after that replace the
one service the setting feeds (``container().cards = build_card_service(...)``).

The container is in the services layer: it names the types of this layer and those below
it. The Authlib objects are named by Authlib's classes; the state of the faces above (the
SAML keys and settings) and of infrastructure (the metrics) stays with them in their own
``app.extensions`` slot.
"""

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
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.integrations.flask_oauth2 import ResourceProtector

    from idp.redis_client import SharedRedis
    from idp.services.backchannel import BackchannelNotifier
    from idp.services.cards.service import CardService
    from idp.services.client_registry import ClientRegistry
    from idp.services.ezproxy import EzproxySettings
    from idp.services.keys import KeyStore
    from idp.services.mail import BackgroundMailer
    from idp.services.mail import Mailer
    from idp.services.passwords import Passwords
    from idp.services.signin.limiter import Limiter
    from idp.settings import Settings


@dataclass
class IdpServices:
    """Everything :func:`idp.create_app` builds once per application."""

    #: The Flask configuration: Flask's own keys only (``SECRET_KEY``, ``TESTING``, …).
    config: dict[str, Any]
    #: The ``IDP_*`` settings, parsed and checked once (:mod:`idp.settings`).
    settings: Settings
    passwords: Passwords
    keys: KeyStore
    #: idp.oauth.server.LibraryAuthorizationServer, named by Authlib's class: the
    #: services layer does not import the OAuth wiring above it.
    authorization: AuthorizationServer
    require_oauth: ResourceProtector
    #: The process's shared Redis client, or None without ``IDP_REDIS_URL``.
    redis: SharedRedis | None
    #: Sign-in throttling (Redis, else the database).
    limiter: Limiter
    #: Card codes, barcodes and their replay store.
    cards: CardService
    #: Registered clients kept in the process.
    client_registry: ClientRegistry
    #: SMTP, or the outbox folder.
    mailer: Mailer
    #: Sends without making the request wait.
    background_mailer: BackgroundMailer
    #: Back-channel logout deliveries.
    backchannel: BackchannelNotifier
    #: The EZproxy external-script check.
    ezproxy: EzproxySettings
    #: The clock; tests replace it to travel in time.
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    def now(self) -> dt.datetime:
        """The current time from the configured clock (aware, UTC)."""
        return self.clock()


def container() -> IdpServices:
    """The service container of the current application (the one accessor for it)."""
    found: IdpServices = current_app.extensions["idp"]
    return found


def shared_redis() -> SharedRedis | None:
    """The application's shared Redis, or None without Redis."""
    return container().redis
