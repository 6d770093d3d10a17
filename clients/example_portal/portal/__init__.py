"""Example portal: a library web site that signs patrons in with the library's IdP.

It is written to be copied. ``create_app`` reads its settings from the environment,
registers the IdP with Authlib's Flask client (discovery, code flow with PKCE S256), and
adds three small blueprints: sign-in/out (:mod:`portal.auth`), the library card
(:mod:`portal.card`) and the start page (:mod:`portal.home`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask import Response
from flask_wtf import CSRFProtect

from portal.config import load_config
from portal.context import Portal
from portal.sessions import SessionStore

csrf = CSRFProtect()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal.

    :param config: settings that override the environment (tests use it).
    :raises portal.config.PortalConfigError: when a required setting is missing.
    """
    app = Flask(__name__)
    settings = load_config(os.environ, config or {})
    app.config.update(settings)
    app.config.update(
        SECRET_KEY=settings["PORTAL_SECRET_KEY"],
        # The IdP on the same host (another port) sets its own cookies; browsers do not
        # separate cookies by port, so the portal's cookie needs its own name.
        SESSION_COOKIE_NAME=settings["PORTAL_COOKIE_NAME"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["PORTAL_BASE_URL"].startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
    )
    oauth = OAuth(app)
    library = oauth.register(
        "library",
        client_id=settings["PORTAL_CLIENT_ID"],
        client_secret=settings["PORTAL_CLIENT_SECRET"],
        server_metadata_url=settings["PORTAL_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings["PORTAL_SCOPE"],
            # PKCE with S256: Authlib makes the verifier and keeps it with the state.
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": settings["PORTAL_TOKEN_AUTH_METHOD"],
            "timeout": settings["PORTAL_HTTP_TIMEOUT"],
        },
    )
    app.extensions["portal"] = Portal(
        library=library,
        store=SessionStore(lifetime=settings["PORTAL_SESSION_LIFETIME"]),
        issuer=settings["PORTAL_ISSUER"],
        client_id=settings["PORTAL_CLIENT_ID"],
    )
    csrf.init_app(app)

    from portal import auth
    from portal import card
    from portal import home

    app.register_blueprint(home.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(card.bp)
    csrf.exempt(auth.backchannel_logout)

    @app.context_processor
    def _site_name() -> dict[str, str]:
        return {"site_name": settings["PORTAL_SITE_NAME"]}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        issuer = settings["PORTAL_ISSUER"]
        # No inline script or style: the card script is a static file.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src 'self'; form-action 'self' {issuer}; frame-ancestors 'none'; "
            "base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app
