"""The signed-in patron of the current browser session."""

from __future__ import annotations

from flask import session

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.container import container
from idp.services.signin import refusal_reason


def current_patron() -> Patron | None:
    """The patron signed in to this browser, if they may still sign in.

    A patron whose card was suspended or expired since logging in is signed out here.
    """
    patron_id = getattr(session, "patron_id", None)
    if patron_id is None:
        return None
    patron = db.session.get(Patron, patron_id)
    if patron is None or refusal_reason(patron, container().now()) is not None:
        session.sign_out()  # type: ignore[attr-defined]
        return None
    return patron
