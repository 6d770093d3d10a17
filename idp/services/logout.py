"""Ending sign-ins: one browser session, or every session of a patron."""

from __future__ import annotations

from typing import Any

from flask import request

from idp.context import services
from idp.oauth.tokens import revoke_patron_tokens
from idp.services import audit
from idp.sessions import end_patron_sessions


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


def end_all_sessions(patron_id: int, *, keep_sid: str | None = None, reason: str) -> int:
    """End every sign-in of a patron: sessions and tokens (password change, staff reset).

    :param keep_sid: the session that made the change, which stays signed in.
    :param reason: why, for the audit log (``password.changed``, ``password.reset`` …).
    :return: the number of sessions ended. The caller commits.
    """
    ended = end_patron_sessions(patron_id, keep_sid=keep_sid)
    revoked = revoke_patron_tokens(patron_id, services().now())
    audit.record(
        "sessions.ended", patron_id=patron_id, reason=reason, sessions=len(ended), tokens=revoked
    )
    return len(ended)
