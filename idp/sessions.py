"""Server-side browser sessions (SPEC §3): the cookie is a random id, the data is ours.

The cookie carries 32 random bytes; the database keeps only their SHA-256, the patron,
the authentication time and a little UI state. Logging in replaces the id (session
fixation) and drops the CSRF token taken before it, logging out or a staff reset
deletes the record, so that a stolen or old cookie stops working everywhere at once.
Behind TLS the cookie's name carries the ``__Host-`` prefix: browsers then keep it only
when it is ``Secure``, for path ``/`` and without ``Domain``, so no other host under the
same domain can plant or overwrite it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from flask import Flask
from flask import Request
from flask import Response
from flask import g
from flask.sessions import SessionInterface
from flask.sessions import SessionMixin
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import select
from werkzeug.datastructures import CallbackDict

from idp.context import services
from idp.extensions import db
from idp.models.session import LoginSession
from idp.views.headers import is_tls

#: Write ``last_seen_at`` at most this often (seconds), not on every request.
_TOUCH_INTERVAL = 60
#: Cookie-name prefix used behind TLS (RFC 6265bis §4.1.3.2).
HOST_PREFIX = "__Host-"
#: Where Flask-WTF keeps the session's CSRF secret (session) and this request's token (g).
CSRF_KEY = "csrf_token"


#: Built once: every browser request looks its session up.
_SESSION_BY_HASH = select(LoginSession).where(LoginSession.id_hash == bindparam("digest"))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The session of one browser; its dict holds UI state only."""

    def __init__(self, row: LoginSession | None = None, token: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(dict(row.data) if row else {}, on_update)
        self.row = row
        self.token = token
        self.modified = False
        self.rotate = False
        self.ended = False
        self.pending_login: tuple[int, int] = (0, 0)

    @property
    def patron_id(self) -> int | None:
        """The signed-in patron, or None."""
        return self.row.patron_id if self.row is not None and not self.ended else None

    @property
    def auth_time(self) -> int | None:
        return self.row.auth_time if self.row is not None and not self.ended else None

    @property
    def sid(self) -> str | None:
        return self.row.sid if self.row is not None and not self.ended else None

    def sign_in(self, patron_id: int, auth_time: int) -> None:
        """Mark the patron signed in; a new session id is issued with the response."""
        self.rotate = True
        self.ended = False
        self.pending_login = (patron_id, auth_time)
        # A CSRF token from before the login (perhaps one an attacker obtained with a
        # planted session) must not work after it: the next form gets a new one.
        self.pop(CSRF_KEY, None)
        g.pop(CSRF_KEY, None)
        self.modified = True

    def write_to_row(self) -> None:
        """Put the changed data in the record now, to go with the caller's own commit.

        Saves the separate commit the response would otherwise make for it. Does nothing
        for a new, rotated or ended session: those are written with the response.
        """
        if self.row is not None and self.modified and not self.rotate and not self.ended:
            self.row.data = dict(self)
            self.modified = False

    def sign_out(self) -> None:
        """End the session: the record is deleted with the response."""
        self.ended = True
        self.clear()
        self.modified = True


class ServerSessionInterface(SessionInterface):
    """Stores :class:`ServerSession` records in the ``login_sessions`` table."""

    def cookie_name(self, app: Flask) -> str:
        """``IDP_SESSION_COOKIE``, with the ``__Host-`` prefix behind TLS."""
        name = str(app.config["IDP_SESSION_COOKIE"])
        if is_tls() and not name.startswith(HOST_PREFIX):
            return HOST_PREFIX + name
        return name

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.cookie_name(app))
        if not token or len(token) > 128:
            return ServerSession()
        row = db.session.scalar(_SESSION_BY_HASH, {"digest": _hash(token)})
        if row is None:
            return ServerSession()
        now = services().now()
        idle = dt.timedelta(seconds=app.config["IDP_SESSION_IDLE_TIMEOUT"])
        if now >= row.expires_at or now - row.last_seen_at >= idle:
            db.session.delete(row)
            db.session.commit()
            return ServerSession()
        return ServerSession(row, token)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)  # noqa: S101 - only ours is ever opened
        name = self.cookie_name(app)
        now = services().now()
        if session.ended and not session.rotate:
            if session.row is not None:
                db.session.delete(session.row)
                db.session.commit()
            response.delete_cookie(name, path="/", secure=is_tls(), httponly=True, samesite="Lax")
            return
        row = session.row
        if session.rotate or row is None:
            if not session.modified and row is None:
                return
            token = secrets.token_urlsafe(32)
            new = LoginSession(
                id_hash=_hash(token),
                sid=secrets.token_urlsafe(16),
                data=dict(session),
                created_at=now,
                last_seen_at=now,
                expires_at=now + dt.timedelta(seconds=app.config["IDP_SESSION_LIFETIME"]),
            )
            if session.rotate:
                new.patron_id, new.auth_time = session.pending_login
            if row is not None:
                db.session.delete(row)
            db.session.add(new)
            db.session.commit()
            self._set_cookie(app, response, name, token)
            return
        changed = False
        if session.modified:
            row.data = dict(session)
            changed = True
        if (now - row.last_seen_at).total_seconds() >= _TOUCH_INTERVAL:
            row.last_seen_at = now
            changed = True
        if changed:
            db.session.commit()

    def _set_cookie(self, app: Flask, response: Response, name: str, token: str) -> None:
        response.set_cookie(
            name,
            token,
            max_age=int(app.config["IDP_SESSION_LIFETIME"]),
            path="/",
            # The actual scheme (X-Forwarded-Proto only behind a trusted proxy).
            secure=is_tls(),
            httponly=True,
            samesite="Lax",
        )


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
