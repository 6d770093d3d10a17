"""HTTP views, one blueprint per module; :func:`register_blueprints` wires them all.

What the blueprints share (forms, error pages, headers, the fast path, …) is in
:mod:`idp.views.support`, which holds no blueprint.
"""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint, the error pages and the security headers."""
    from idp.views import account
    from idp.views import authorize
    from idp.views import card
    from idp.views import card_api
    from idp.views import consent
    from idp.views import device
    from idp.views import discovery
    from idp.views import ezproxy
    from idp.views import health
    from idp.views import home
    from idp.views import login
    from idp.views import logout
    from idp.views import openapi
    from idp.views import passkeys
    from idp.views import password
    from idp.views import patron_api
    from idp.views import saml
    from idp.views import staff
    from idp.views import token
    from idp.views import userinfo
    from idp.views.support import errors
    from idp.views.support import fast
    from idp.views.support import headers
    from idp.views.support import input_guard

    for module in (
        account,
        authorize,
        card,
        card_api,
        consent,
        device,
        discovery,
        health,
        home,
        login,
        logout,
        openapi,
        passkeys,
        password,
        patron_api,
        staff,
        token,
        userinfo,
    ):
        app.register_blueprint(module.bp)
    errors.init_app(app)
    staff.init_app(app)
    ezproxy.init_app(app)
    saml.init_app(app)
    input_guard.init_app(app)
    fast.init_app(app)
    discovery.init_app(app)
    headers.init_app(app)
