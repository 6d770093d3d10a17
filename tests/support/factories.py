"""Factories for test rows: each returns a saved object."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import Flask

from idp.extensions import db
from idp.models.client import Client
from idp.models.client import hash_client_secret
from idp.models.patron import Patron
from idp.services.container import IdpServices
from idp.services.container import container

DEFAULT_PASSWORD = "honyomu42"


def make_patron(
    card_number: str | None = None,
    *,
    password: str = DEFAULT_PASSWORD,
    temporary: bool = False,
    expires_on: dt.date | None = None,
    **fields: Any,
) -> Patron:
    """A saved patron with a known password (cheap Argon2 settings in tests)."""
    patron = Patron(
        card_number=card_number or "03" + "".join(secrets.choice("0123456789") for _ in range(8)),
        password_hash=container().passwords.hash(password),
        is_temporary_password=temporary,
        expires_on=expires_on or dt.date(2099, 12, 31),
        **fields,
    )
    db.session.add(patron)
    db.session.commit()
    return patron


def make_client(
    client_id: str = "portal",
    *,
    secret: str | None = "portal-secret-0123456789-abcdefghijklmnop",
    redirect_uris: list[str] | None = None,
    scopes: list[str] | None = None,
    auth_method: str = "client_secret_basic",
    first_party: bool = True,
    policy: str = "change",
    subject_type: str = "public",
    grant_types: list[str] | None = None,
    **fields: Any,
) -> Client:
    """A saved client; ``secret=None`` with ``auth_method="none"`` makes a public client."""
    scopes = scopes or ["openid", "profile", "email", "library_card", "offline_access"]
    client = Client(
        client_id=client_id,
        name=fields.pop("name", client_id.title()),
        client_secret_hash=hash_client_secret(secret) if secret else None,
        redirect_uris=redirect_uris or [f"https://{client_id}.example.org/callback"],
        post_logout_redirect_uris=fields.pop(
            "post_logout_redirect_uris", [f"https://{client_id}.example.org/"]
        ),
        scopes=scopes,
        grant_types=grant_types or ["authorization_code", "refresh_token"],
        token_endpoint_auth_method=auth_method,
        is_first_party=first_party,
        temporary_password_policy=policy,
        subject_type=subject_type,
        **fields,
    )
    db.session.add(client)
    db.session.commit()
    return client


def change_settings(app: Flask, **values: Any) -> None:
    """Replace some ``IDP_*`` settings of a running test application (checked as at
    start), and build again the services made from them when the application was built
    (the throttle and the card service; their counters and replay memory live in the
    database or Redis, so nothing counted so far is lost).
    """
    from tests.rebuild import rebuild_cards
    from tests.rebuild import rebuild_limiter

    found: IdpServices = app.extensions["idp"]
    found.settings = found.settings.with_values(values)
    rebuild_limiter(app)
    rebuild_cards(app)
