"""Build a service again after a test changed the settings it reads.

The application builds every service once (idp/__init__.py, ``build_services``); a test
that changes settings afterwards (``tests.support.factories.change_settings``) replaces the one
service those settings feed.
"""

from __future__ import annotations

from flask import Flask

from idp.redis_client import build_shared_redis
from idp.services.cards.service import build_card_service
from idp.services.container import IdpServices
from idp.services.signin.limiter import build_limiter


def _services(app: Flask) -> IdpServices:
    found: IdpServices = app.extensions["idp"]
    return found


def _follow_redis_url(svc: IdpServices, app: Flask) -> None:
    """A new shared client when the test changed ``IDP_REDIS_URL``."""
    url = svc.settings.redis.url or None
    if (svc.redis.url if svc.redis is not None else None) != url:
        svc.redis = build_shared_redis(svc.settings.redis)


def rebuild_limiter(app: Flask) -> None:
    """The throttle again, with the current ``IDP_THROTTLE_*`` (and Redis) settings."""
    svc = _services(app)
    _follow_redis_url(svc, app)
    svc.limiter = build_limiter(svc.settings, str(app.config["SECRET_KEY"]), svc.redis)


def rebuild_cards(app: Flask) -> None:
    """The card service again, with the current ``IDP_CARD_*`` (and Redis) settings."""
    svc = _services(app)
    _follow_redis_url(svc, app)
    svc.cards = build_card_service(svc.settings.cards, str(app.config["SECRET_KEY"]), svc.redis)
