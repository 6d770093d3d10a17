"""Server-side browser sessions (SPEC §3): the cookie is a random id, the data is ours.

The cookie carries 32 random bytes; the database keeps only their SHA-256, the patron,
the authentication time and a little UI state. Logging in replaces the id (session
fixation) and drops the CSRF token taken before it, logging out or a staff reset
deletes the record, so that a stolen or old cookie stops working everywhere at once.
Behind TLS the cookie's name carries the ``__Host-`` prefix: browsers then keep it only
when it is ``Secure``, for path ``/`` and without ``Domain``, so no other host under the
same domain can plant or overwrite it.

An anonymous visitor gets no record: what a login or start page needs before anyone
signs in (the CSRF token, the chosen language) travels in the same cookie, signed with
itsdangerous. A record is written only when something must be kept on the server — a
login, a pending authorization request, a forced password change — and the records of
anonymous visitors from one address are capped (``IDP_SESSION_ANONYMOUS_PER_ADDRESS``).
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
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from idp.extensions import db
from idp.models.session import LoginSession
from idp.services.container import container
from idp.settings import app_settings
from idp.views.support.caller import caller_address
from idp.views.support.headers import is_tls
from idp.views.support.unavailable import discard_transaction
from idp.views.support.unavailable import is_disconnect
from idp.views.support.unavailable import is_unavailable

#: Write ``last_seen_at`` at most this often (seconds), not on every request.
_TOUCH_INTERVAL = 60
#: Cookie-name prefix used behind TLS (RFC 6265bis §4.1.3.2).
HOST_PREFIX = "__Host-"
#: Where Flask-WTF keeps the session's CSRF secret (session) and this request's token (g).
CSRF_KEY = "csrf_token"


#: Built once: every browser request looks its session up.
_SESSION_BY_HASH = select(LoginSession).where(LoginSession.id_hash == bindparam("digest"))


#: Keys an anonymous session may keep in its signed cookie; any other key (a pending
#: authorization request, a forced password change, …) makes it a server-side record.
ANONYMOUS_KEYS = frozenset({"csrf_token", "lang", "login_notice", "_flashes"})
#: Longest signed anonymous cookie value; more data goes into a record instead.
_ANONYMOUS_MAX = 1024
_ANONYMOUS_SALT = "idp.anonymous-session"


def _anonymous_serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(app.secret_key), salt=_ANONYMOUS_SALT)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_live(
    expires_at: dt.datetime, last_seen_at: dt.datetime, now: dt.datetime, idle_timeout: int
) -> bool:
    """A session record is neither past its lifetime nor idle ``idle_timeout`` seconds."""
    idle = dt.timedelta(seconds=idle_timeout)
    return now < expires_at and now - last_seen_at < idle


def is_due_a_touch(last_seen_at: dt.datetime, now: dt.datetime) -> bool:
    """``last_seen_at`` is written again (not on every request, see _TOUCH_INTERVAL)."""
    return (now - last_seen_at).total_seconds() >= _TOUCH_INTERVAL


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The session of one browser; its dict holds UI state only."""

    def __init__(
        self,
        row: LoginSession | None = None,
        token: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(dict(row.data) if row else dict(data or {}), on_update)
        self.row = row
        self.token = token
        self.modified = False
        self.rotate = False
        self.ended = False
        self.pending_login: tuple[int, int] = (0, 0)
        #: The database could not be read when the request began (idp/views/support/unavailable.py).
        self.unavailable = False
        #: The ended session's cookie was already deleted on this response.
        self.cleared = False
        #: Saved with this response already; saving again writes only later changes.
        self.saved = False

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
        # planted session) must not work after it. A new secret (Flask-WTF's format) is
        # saved with the new record, so the first form after login writes nothing more.
        self[CSRF_KEY] = secrets.token_hex(20)
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
        name = app_settings(app).sessions.cookie
        if is_tls() and not name.startswith(HOST_PREFIX):
            return HOST_PREFIX + name
        return name

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.cookie_name(app))
        if token and "." in token:  # ids are URL-safe base64: a dot means signed data
            return self._open_anonymous(app, token)
        if not token or len(token) > 128:
            return ServerSession()
        try:
            return self._open_record(app, token)
        except SQLAlchemyError as error:
            discard_transaction()
            if not is_disconnect(error):
                return _unavailable_session(error)
        try:  # once more on a new connection: reading the session changes nothing
            return self._open_record(app, token)
        except SQLAlchemyError as error:
            discard_transaction()
            return _unavailable_session(error)

    def _open_record(self, app: Flask, token: str) -> ServerSession:
        row = db.session.scalar(_SESSION_BY_HASH, {"digest": _hash(token)})
        if row is None:
            return ServerSession()
        now = container().now()
        if not is_live(
            row.expires_at, row.last_seen_at, now, app_settings(app).sessions.idle_timeout
        ):
            db.session.delete(row)
            db.session.commit()
            return ServerSession()
        return ServerSession(row, token)

    def _open_anonymous(self, app: Flask, value: str) -> ServerSession:
        if len(value) > _ANONYMOUS_MAX:
            return ServerSession()
        try:
            data = _anonymous_serializer(app).loads(
                value, max_age=app_settings(app).sessions.lifetime
            )
        except BadSignature:
            return ServerSession()
        if not isinstance(data, dict):
            return ServerSession()
        return ServerSession(data={k: v for k, v in data.items() if k in ANONYMOUS_KEYS})

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write the session with ``response``; saving it again writes only later changes.

        The application saves it right after the view (idp/views/support/unavailable.py), and Flask
        once more after the response hooks.
        """
        assert isinstance(session, ServerSession)  # noqa: S101 - only ours is ever opened
        if session.unavailable or (session.saved and not session.modified):
            return
        self._save(app, session, response)
        session.saved = True

    def _save(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.cookie_name(app)
        now = container().now()
        if session.ended and not session.rotate:
            if session.cleared:
                return
            if session.row is not None:
                db.session.delete(session.row)
                db.session.commit()
                session.row = None
            response.delete_cookie(name, path="/", secure=is_tls(), httponly=True, samesite="Lax")
            session.cleared = True
            return
        row = session.row
        if session.rotate or row is None:
            if not session.modified and row is None:
                return
            if row is None and not session.rotate:
                value = self._anonymous_value(app, session)
                if value is not None:
                    self._set_cookie(app, response, name, value)
                    session.modified = False
                    return
            token = secrets.token_urlsafe(32)
            new = LoginSession(
                id_hash=_hash(token),
                sid=secrets.token_urlsafe(16),
                data=dict(session),
                created_at=now,
                last_seen_at=now,
                expires_at=now + dt.timedelta(seconds=app_settings(app).sessions.lifetime),
            )
            if session.rotate:
                new.patron_id, new.auth_time = session.pending_login
            else:
                new.ip = caller_address()
                _cap_anonymous(new.ip, app_settings(app).sessions.anonymous_per_address)
            if row is not None:
                db.session.delete(row)
            db.session.add(new)
            db.session.commit()
            self._set_cookie(app, response, name, token)
            session.row, session.token = new, token
            session.rotate = session.modified = False
            return
        changed = False
        if session.modified:
            row.data = dict(session)
            changed = True
        if is_due_a_touch(row.last_seen_at, now):
            row.last_seen_at = now
            changed = True
        if changed:
            db.session.commit()
            session.modified = False

    def _anonymous_value(self, app: Flask, session: ServerSession) -> str | None:
        """The signed cookie value for an anonymous session, or None if it needs a record."""
        if not set(session).issubset(ANONYMOUS_KEYS):
            return None
        value = str(_anonymous_serializer(app).dumps(dict(session)))
        return value if len(value) <= _ANONYMOUS_MAX else None

    def _set_cookie(self, app: Flask, response: Response, name: str, token: str) -> None:
        response.set_cookie(
            name,
            token,
            max_age=app_settings(app).sessions.lifetime,
            path="/",
            # The actual scheme (X-Forwarded-Proto only behind a trusted proxy).
            secure=is_tls(),
            httponly=True,
            samesite="Lax",
        )


def _unavailable_session(error: SQLAlchemyError) -> ServerSession:
    """An empty session marked so that the request is answered 503, or the error itself."""
    if not is_unavailable(error):
        raise error
    empty = ServerSession()
    empty.unavailable = True
    return empty


def _cap_anonymous(ip: str | None, cap: int) -> None:
    """Drop the oldest anonymous records of ``ip`` so that a new one keeps it at ``cap``."""
    if not ip or cap <= 0:
        return
    anonymous = (LoginSession.ip == ip) & LoginSession.patron_id.is_(None)
    count = db.session.scalar(select(func.count()).select_from(LoginSession).where(anonymous))
    if not count or count < cap:
        return
    oldest = select(LoginSession.id).where(anonymous).order_by(LoginSession.id)
    ids = list(db.session.scalars(oldest.limit(count - cap + 1)))
    db.session.execute(delete(LoginSession).where(LoginSession.id.in_(ids)))
