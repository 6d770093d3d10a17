"""Settings: ``PORTAL_*`` environment variables with defaults for the demo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    # The IdP's issuer URL (discovery is read from <issuer>/.well-known/openid-configuration).
    "PORTAL_ISSUER": "http://127.0.0.1:5000",
    # This portal's registration at the IdP (clients/example-portal.toml).
    "PORTAL_CLIENT_ID": "example-portal",
    "PORTAL_CLIENT_SECRET": None,
    # Signs the portal's session cookie; at least 32 random characters.
    "PORTAL_SECRET_KEY": None,
    # Where the portal is reached; redirect URIs are built from the request, this only
    # decides whether the cookie is Secure.
    "PORTAL_BASE_URL": "http://127.0.0.1:5001",
    # Scopes asked for: sign-in, the patron's name, the library card.
    "PORTAL_SCOPE": "openid profile library_card",
    # How the portal authenticates at the token endpoint (as registered at the IdP):
    # client_secret_basic or client_secret_post.
    "PORTAL_TOKEN_AUTH_METHOD": "client_secret_basic",
    # The session cookie's name: cookies do not tell ports apart, so a second copy on the
    # same host (the demo e-library of `make elibrary`) needs its own.
    "PORTAL_COOKIE_NAME": "portal_session",
    # The site's name in its header and titles (`make elibrary` calls it 電子図書館).
    "PORTAL_SITE_NAME": "Myライブラリ",
    # Seconds to wait for the IdP on every back-end call.
    "PORTAL_HTTP_TIMEOUT": 5,
    # How long a portal sign-in lasts at most, in seconds.
    "PORTAL_SESSION_LIFETIME": 8 * 3600,
}

_REQUIRED = ("PORTAL_CLIENT_SECRET", "PORTAL_SECRET_KEY")


class PortalConfigError(RuntimeError):
    """A setting is missing or unusable; the message names it."""


def load_config(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then the environment, then ``overrides``.

    :raises PortalConfigError: when a required setting is missing or too short.
    """
    settings = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        if key in environ:
            raw = environ[key]
            settings[key] = int(raw) if isinstance(default, int) else raw
    settings.update(overrides)
    for key in _REQUIRED:
        value = settings.get(key)
        if not isinstance(value, str) or not value:
            raise PortalConfigError(f"{key} is not set")
    if len(settings["PORTAL_SECRET_KEY"]) < 32:
        raise PortalConfigError("PORTAL_SECRET_KEY must be at least 32 characters")
    settings["PORTAL_ISSUER"] = str(settings["PORTAL_ISSUER"]).rstrip("/")
    return settings
