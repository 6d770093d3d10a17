"""Ending sign-ins: one browser session, or every session of a patron."""

from __future__ import annotations

from typing import Any

from flask import request

from idp.services import audit


def end_browser_session(session: Any) -> None:
    """Sign this browser out (RP-initiated logout or the logout button).

    :param session: the current :class:`idp.sessions.ServerSession`.
    """
    patron_id = session.patron_id
    if patron_id is not None:
        audit.record(
            "logout",
            patron_id=patron_id,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
        )
    session.sign_out()
