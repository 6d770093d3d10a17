"""What a relying party may learn about a patron: the scopes and the claims under each."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list

from idp.models.client import Client
from idp.models.patron import Patron
from idp.services.accounts.subjects import subject_for
from idp.services.container import container

#: Scopes this provider understands; a client may be allowed a subset.
SCOPES_SUPPORTED = ["openid", "profile", "email", "library_card", "offline_access"]

#: Claims released under each scope (data minimisation: nothing else, ever).
CLAIMS_BY_SCOPE = {
    "profile": ["name"],
    "email": ["email", "email_verified"],
    "library_card": ["card_number", "card_expires_on"],
}


def claims_for(patron: Patron, client: Client, scope: str) -> dict[str, Any]:
    """The userinfo claims ``client`` may see for ``patron`` under ``scope``."""
    scopes = set(scope_to_list(scope or ""))
    claims: dict[str, Any] = {"sub": subject_for(patron, client, container().config["SECRET_KEY"])}
    if "profile" in scopes and patron.name:
        claims["name"] = patron.name
    if "email" in scopes and patron.email:
        claims["email"] = patron.email
        claims["email_verified"] = bool(patron.is_email_verified)
    if "library_card" in scopes:
        claims["card_number"] = patron.card_number
        claims["card_expires_on"] = patron.expires_on.isoformat()
    return claims
