"""Ending sign-ins: one browser session, or every session of a patron."""

from __future__ import annotations

import hmac
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select

from idp.extensions import db
from idp.models.patron import Patron
from idp.models.session import LoginSession
from idp.services import audit
from idp.services.accounts.subjects import subject_for
from idp.services.backchannel import ended_session
from idp.services.backchannel import notify_ended_sessions
from idp.services.container import container
from idp.services.tokens import revoke_patron_tokens


def hint_names_session(session: Any, claims: dict[str, Any] | None, client: Any) -> bool:
    """Whether a validated ``id_token_hint`` was issued for this browser's sign-in.

    Only then may logout proceed without asking (RP-Initiated Logout §6): any valid ID
    token, from any patron, would otherwise let another site sign this browser out. The
    hint's ``sid`` must be this session's; an ID token without ``sid`` must name this
    session's patron (``sub`` as the client sees it). Nobody signed in: nothing to end.

    :param session: the current :class:`idp.views.support.sessions.ServerSession`.
    :param claims: the hint's claims, or None without a hint.
    :param client: the client the hint or ``client_id`` names (for ``sub``), or None.
    """
    if claims is None:
        return False
    if session.patron_id is None:
        return True
    sid = claims.get("sid")
    if sid is not None:
        current = session.sid or ""
        return isinstance(sid, str) and hmac.compare_digest(sid.encode(), current.encode())
    patron = db.session.get(Patron, session.patron_id)
    sub = claims.get("sub")
    if patron is None or client is None or not isinstance(sub, str):
        return False
    expected = subject_for(patron, client, container().config["SECRET_KEY"])
    return hmac.compare_digest(sub.encode(), expected.encode())


def end_browser_session(session: Any, *, ip: str | None, user_agent: str) -> None:
    """Sign this browser out (RP-initiated logout or the logout button).

    The clients this session signed in to are told by back-channel logout (in the
    background: the patron's response does not wait for them).

    :param session: the current :class:`idp.views.support.sessions.ServerSession`.
    :param ip: the browser's address, for the audit event.
    :param user_agent: the browser's ``User-Agent``, for the audit event.
    """
    patron_id = session.patron_id
    ended = ended_session(session.row) if patron_id is not None else None
    if patron_id is not None:
        audit.record(
            "logout",
            patron_id=patron_id,
            ip=ip,
            user_agent=user_agent,
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
    revoked = revoke_patron_tokens(patron_id, container().now())
    audit.record(
        "sessions.ended", patron_id=patron_id, reason=reason, sessions=len(ended), tokens=revoked
    )
    notify_ended_sessions(sessions)
    return len(ended)


def end_patron_sessions(patron_id: int, *, keep_sid: str | None = None) -> list[LoginSession]:
    """Delete every session of a patron (staff reset, password change).

    :param keep_sid: a session to keep (the one that changed the password).
    :return: the deleted sessions, for back-channel logout.
    """
    rows = list(db.session.scalars(select(LoginSession).where(LoginSession.patron_id == patron_id)))
    ended = [row for row in rows if row.sid != keep_sid]
    ids = [row.id for row in ended]
    if ids:
        db.session.execute(delete(LoginSession).where(LoginSession.id.in_(ids)))
    return ended
