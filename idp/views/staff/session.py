"""The staff console's own browser sessions: a cookie scoped to ``/staff``, never a patron's.

Requests under ``/staff`` get a :class:`StaffSession` (table ``staff_sessions``, cookie
``IDP_STAFF_SESSION_COOKIE`` with ``Path=/staff``, ``HttpOnly``, ``SameSite=Strict``);
every other request keeps the patrons' session. So a patron's sign-in never opens the
console, and a staff sign-in never signs anybody in to a relying party. Idle sessions end
after ``IDP_STAFF_SESSION_IDLE_TIMEOUT``, every session after ``IDP_STAFF_SESSION_LIFETIME``;
the id is replaced at each step of a sign-in (session fixation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from flask import Flask
from flask import Request
from flask import Response
from flask.sessions import SessionInterface
from flask.sessions import SessionMixin
from sqlalchemy import delete
from sqlalchemy import select
from werkzeug.datastructures import CallbackDict

from idp.extensions import db
from idp.models.staff import StaffSession
from idp.services.container import container
from idp.settings import app_settings
from idp.views.support.headers import is_tls

#: Every path of the console starts with this; it is also the cookie's path.
PREFIX = "/staff"
#: Write ``last_seen_at`` at most this often (seconds).
_TOUCH_INTERVAL = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSession(CallbackDict[str, Any], SessionMixin):
    """The session of one staff browser; its dict holds UI and sign-in state, no secret."""

    def __init__(self, row: StaffSession | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(dict(row.data) if row else {}, on_update)
        self.row = row
        self.modified = False
        self.rotate = False
        self.ended = False
        self.new_staff_id: int | None = row.staff_id if row else None
        #: True when the browser's session had just timed out (the sign-in page says so).
        self.expired = False
        #: Written once already in this request: a second save writes only later changes.
        self.saved = False

    @property
    def staff_id(self) -> int | None:
        """The signed-in staff member (both factors done), or None."""
        return None if self.ended else self.new_staff_id

    def renew(self) -> None:
        """Issue a new id with the response, keeping the data (a sign-in step)."""
        self.rotate = True
        self.modified = True

    def sign_in(self, staff_id: int) -> None:
        """Mark the staff member signed in, under a new session id."""
        self.new_staff_id = staff_id
        self.renew()

    def sign_out(self) -> None:
        """End the session: the record is deleted with the response."""
        self.ended = True
        self.clear()
        self.modified = True


class ConsoleSessionInterface(SessionInterface):
    """Stores :class:`ConsoleSession` records in ``staff_sessions``."""

    def cookie_name(self, app: Flask) -> str:
        return app_settings(app).staff.session_cookie

    def open_session(self, app: Flask, request: Request) -> ConsoleSession:
        token = request.cookies.get(self.cookie_name(app))
        if not token or len(token) > 128:
            return ConsoleSession()
        row = db.session.scalar(select(StaffSession).where(StaffSession.id_hash == _hash(token)))
        if row is None:
            return ConsoleSession()
        now = container().now()
        idle = dt.timedelta(seconds=app_settings(app).staff.session_idle_timeout)
        if now >= row.expires_at or now - row.last_seen_at >= idle:
            db.session.delete(row)
            db.session.commit()
            session = ConsoleSession()
            session.expired = True
            return session
        return ConsoleSession(row)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Write the session with ``response``; saving it again writes only later changes.

        The application saves it right after the view (idp/views/support/unavailable.py), and Flask
        once more after the response hooks.
        """
        assert isinstance(session, ConsoleSession)  # noqa: S101 - only ours is opened here
        if session.saved and not session.modified:
            return
        self._save(app, session, response)
        session.saved = True

    def _save(self, app: Flask, session: ConsoleSession, response: Response) -> None:
        name = self.cookie_name(app)
        now = container().now()
        if session.ended:
            if session.row is not None:
                db.session.delete(session.row)
                db.session.commit()
                session.row = None
            session.modified = False
            response.delete_cookie(
                name, path=PREFIX, secure=is_tls(), httponly=True, samesite="Strict"
            )
            return
        row = session.row
        if session.rotate or row is None:
            if not session.modified and row is None:
                return
            token = secrets.token_urlsafe(32)
            lifetime = dt.timedelta(seconds=app_settings(app).staff.session_lifetime)
            new = StaffSession(
                id_hash=_hash(token),
                staff_id=session.new_staff_id,
                data=dict(session),
                created_at=now,
                last_seen_at=now,
                expires_at=(
                    row.expires_at
                    if row is not None and session.new_staff_id == row.staff_id
                    else now + lifetime
                ),
            )
            if row is not None:
                db.session.delete(row)
            if secrets.randbelow(100) == 0:
                # Now and then, drop expired sessions so the table stays small.
                db.session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
            db.session.add(new)
            db.session.commit()
            response.set_cookie(
                name,
                token,
                path=PREFIX,
                secure=is_tls(),
                httponly=True,
                samesite="Strict",
            )
            session.row = new
            session.rotate = session.modified = False
            return
        changed = False
        if session.modified:
            row.data = dict(session)
            session.modified = False
            changed = True
        if (now - row.last_seen_at).total_seconds() >= _TOUCH_INTERVAL:
            row.last_seen_at = now
            changed = True
        if changed:
            db.session.commit()


class SplitSessionInterface(SessionInterface):
    """The console's sessions under ``/staff``, the patrons' everywhere else."""

    def __init__(self, patrons: SessionInterface, console: ConsoleSessionInterface) -> None:
        self.patrons = patrons
        self.console = console

    def _for(self, path: str) -> SessionInterface:
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.console
        return self.patrons

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self._for(request.path).open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, ConsoleSession):
            self.console.save_session(app, session, response)
        else:
            self.patrons.save_session(app, session, response)
