"""Ending sign-ins: one browser session, or every session of a patron."""

from __future__ import annotations

from typing import Any

from flask import request

from idp.context import services
from idp.oauth.tokens import revoke_patron_tokens
from idp.services import audit
from idp.services.backchannel import ended_session
from idp.services.backchannel import notify_ended_sessions
from idp.sessions import end_patron_sessions


def end_browser_session(session: Any) -> None:
    """Sign this browser out (RP-initiated logout or the logout button).

    The clients this session signed in to are told by back-channel logout (in the
    background: the patron's response does not wait for them).

    :param session: the current :class:`idp.sessions.ServerSession`.
    """
    patron_id = session.patron_id
    ended = ended_session(session.row) if patron_id is not None else None
    if patron_id is not None:
        audit.record(
            "logout",
            patron_id=patron_id,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
        )
    session.sign_out()
    notify_ended_sessions([ended])


def end_all_sessions(patron_id: int, *, keep_sid: str | None = None, reason: str) -> int:
    """End every sign-in of a patron: sessions and tokens (password change, staff reset).

    Every client the ended sessions signed in to is told by back-channel logout.

    :param keep_sid: the session that made the change, which stays signed in.
    :param reason: why, for the audit log (``password.changed``, ``password.reset`` …).
    :return: the number of sessions ended. The caller commits.
    """
    ended = end_patron_sessions(patron_id, keep_sid=keep_sid)
    sessions = [ended_session(row) for row in ended]
    revoked = revoke_patron_tokens(patron_id, services().now())
    audit.record(
        "sessions.ended", patron_id=patron_id, reason=reason, sessions=len(ended), tokens=revoked
    )
    notify_ended_sessions(sessions)
    return len(ended)
