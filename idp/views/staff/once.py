"""One-time form tokens: a page that shows a temporary password answers one POST only.

Reloading the answer or going back and sending the form again finds its token used up,
so the password is never shown twice (and the action never repeated by accident).
"""

from __future__ import annotations

import secrets

from flask import session

from idp.services.staff.once import claim

_KEY = "once"
_KEEP = 10


def new_once() -> str:
    """A fresh token for a form, remembered in the staff session (the newest few)."""
    token = secrets.token_urlsafe(16)
    tokens = [t for t in session.get(_KEY, []) if isinstance(t, str)][-(_KEEP - 1) :]
    session[_KEY] = [*tokens, token]
    return token


def use_once(token: str | None) -> bool:
    """Use a form's token up; False when not this session's or already used.

    The claim is atomic in the shared store, so two submissions at once (a double click,
    two workers) cannot both pass.
    """
    tokens = [t for t in session.get(_KEY, []) if isinstance(t, str)]
    if not token or token not in tokens:
        return False
    tokens.remove(token)
    session[_KEY] = tokens
    return claim(token)
