"""The WSGI fast path of ``/token``, ``/userinfo`` and ``/introspect``.

The common successful requests — a code exchange or refresh by an authenticated client,
userinfo with a bearer header, a client introspecting its own token — are answered
here, before Flask builds a request, a session or a locale. Every check is made by the
same functions the Authlib endpoints call (:mod:`idp.oauth.grants`,
:mod:`idp.oauth.tokens`, :mod:`idp.oauth.oidc`, the client model's own methods), on
the rows read by the same statements (:mod:`idp.oauth.hot`). Whatever is not such a
success — an error to answer, an unusual parameter, a retry within the refresh grace,
a reused code — goes to the application with the request intact (the body is kept
and handed on), where Authlib answers it.

``IDP_FAST_PATH=0`` turns it off (every request through Flask and Authlib); the
protocol and security tests run both ways.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from flask import Flask
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import event
from werkzeug.http import parse_cookie

from idp.extensions import db
from idp.logs import access_log
from idp.logs import current_request_id
from idp.logs import request_id_for
from idp.metrics import current_metrics
from idp.oauth.hot import reader
from idp.settings import Settings
from idp.settings import app_settings
from idp.sqlite_writes import release as release_write_lock
from idp.views.support.fast_answers import Answer
from idp.views.support.fast_answers import Call
from idp.views.support.fast_answers import Fallthrough
from idp.views.support.fast_answers import _form
from idp.views.support.fast_authorize import authorize_endpoint
from idp.views.support.fast_tokens import introspection_endpoint
from idp.views.support.fast_tokens import token_endpoint
from idp.views.support.fast_tokens import userinfo_endpoint
from idp.views.support.headers import HSTS
from idp.views.support.headers import environ_is_tls
from idp.views.support.sessions import HOST_PREFIX

log = logging.getLogger(__name__)
#: Longest form body the fast path reads (larger ones go to Flask, which limits them).
MAX_BODY = 8192


Handler = Callable[["FastPath", Call], Answer]
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/authorize"): authorize_endpoint,
    ("POST", "/token"): token_endpoint,
    ("GET", "/userinfo"): userinfo_endpoint,
    ("POST", "/userinfo"): userinfo_endpoint,
    ("POST", "/introspect"): introspection_endpoint,
}


class _Kept:
    """The connection a handler runs its statements on: the thread's own, kept between
    its requests.

    A handler leaves no transaction behind when it succeeds: a read begins none (SQLite's
    driver begins one only for a write; PostgreSQL's reads are in autocommit) and a
    write is committed, and SQLite's write lock let go (:func:`idp.sqlite_writes.release`),
    before the answer. So the connection stays checked out for the thread's next request
    instead of going through the pool each time, and the thread's SQLite page cache
    stays its own. It goes back to the pool before the application answers a request
    (:meth:`FastPath._give_back`), so a thread holds no more connections than without
    it. One that fell back to SQLAlchemy's execution with a transaction left open, was
    closed or invalidated (the database went away), or saw an error (a hand-over
    included) is closed — uncommitted work is rolled back — and the next request takes a
    fresh one from the pool.
    """

    __slots__ = ("connection", "path")

    def __init__(self, path: FastPath) -> None:
        self.path = path
        self.connection: Connection | None = None

    def __enter__(self) -> Connection:
        connection = self.path._take_kept()
        if connection is None or connection.closed or connection.invalidated:
            connection = self.path._connect()
        self.connection = connection
        return connection

    def __exit__(self, error: type[BaseException] | None, *rest: object) -> None:
        connection = self.connection
        if connection is None or connection.closed:
            return
        if error is None and not connection.invalidated and not connection.in_transaction():
            release_write_lock(connection)
            self.path._kept.connection = connection
        else:
            connection.close()


class FastPath:
    """WSGI middleware in front of the application (see the module's docstring)."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.enabled = app_settings(app).site.fast_path
        self.trust_proxy = app_settings(app).site.trust_proxy
        self.issuer_is_https = app_settings(app).site.issuer.startswith("https://")
        self._reader: Engine | None = None
        #: Each thread's connection between its requests (see :class:`_Kept`).
        self._kept = threading.local()
        self._opened: weakref.WeakSet[Connection] = weakref.WeakSet()
        #: Requests answered here (approximate under threads; tests read it).
        self.answered = 0

    @property
    def settings(self) -> Settings:
        """The application's settings (read at each use: tests may replace them)."""
        return app_settings(self.app)

    def session_token(self, environ: dict[str, Any]) -> str | None:
        """The browser's server-side session id from its cookie (as
        :meth:`idp.views.support.sessions.ServerSessionInterface.cookie_name` names it), if any."""
        name = self.settings.sessions.cookie
        if self._is_tls(environ) and not name.startswith(HOST_PREFIX):
            name = HOST_PREFIX + name
        token = parse_cookie(str(environ.get("HTTP_COOKIE", ""))).get(name)
        if not token or "." in token or len(token) > 128:
            return None  # none, or an anonymous (signed) one
        return token

    def _connect(self) -> Connection:
        """A fresh connection from the pool, remembered so that :meth:`_close_kept` can
        close it."""
        connection = self._single_statements().connect()
        self._opened.add(connection)
        return connection

    def _single_statements(self) -> Engine:
        """The engine whose connections run each statement as its own transaction on
        PostgreSQL (autocommit: :func:`idp.oauth.hot.reader`)."""
        if self._reader is None:
            engine = db.engine
            self._reader = reader(engine)
            event.listen(engine, "engine_disposed", self._close_kept)
        return self._reader

    def _take_kept(self) -> Connection | None:
        """The thread's kept connection (None: none), no longer kept."""
        connection: Connection | None = getattr(self._kept, "connection", None)
        self._kept.connection = None
        return connection

    def _give_back(self) -> None:
        """Return the thread's kept connection to the pool before the application
        answers: a thread holds no more connections than without it (the request's
        session, a sign-in and its counters take theirs from the pool, as before)."""
        connection = self._take_kept()
        if connection is not None:
            connection.close()

    def _close_kept(self, engine: Engine) -> None:
        """The engine's pool was replaced (a fork, a shutdown, a test's end): close the
        connections the threads keep. Closed outright, not checked in: the pool
        they came from is no longer the engine's, and would keep them open."""
        for connection in list(self._opened):
            if not connection.closed:
                connection.invalidate()
                connection.close()

    def single_statements(self) -> _Kept:
        """The connection for a handler's reads and its one write, if any, without the ORM
        session (its unit of work, identity map and teardown cost more than the
        statements). On PostgreSQL it is in autocommit: each read is one round trip and
        the write is one statement that does everything the request records
        (:func:`idp.oauth.claims.redeem_code`, :func:`idp.oauth.authorization.issue_code`),
        all or nothing, with no BEGIN or COMMIT around it. On SQLite the driver begins a
        transaction at the first write, which the handler commits once it has its
        answer; whatever it leaves uncommitted is rolled back when ``with`` ends (the
        connection is closed, see :class:`_Kept`)."""
        return _Kept(self)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        handler = ROUTES.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        if (
            handler is None
            or not self.enabled
            or (environ.get("QUERY_STRING") and handler is not authorize_endpoint)
        ):
            return self._application(environ, start_response)
        started = time.perf_counter()
        raw = b""
        if environ["REQUEST_METHOD"] == "POST":
            ctype = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return self._application(environ, start_response)
            if length > MAX_BODY or (length and ctype != "application/x-www-form-urlencoded"):
                return self._application(environ, start_response)
            raw = environ["wsgi.input"].read(length) if length else b""
            # The application reads the same bytes if it answers after all.
            environ["wsgi.input"] = io.BytesIO(raw)
        rid = request_id_for(str(environ.get("HTTP_X_REQUEST_ID", "")))
        marker = current_request_id.set(rid)
        try:
            with self.app.app_context():
                answer = self._answer(handler, environ, raw)
                if answer is not None:
                    self._log(environ, answer, rid, time.perf_counter() - started)
        finally:
            current_request_id.reset(marker)
        if answer is None:
            # The application answers in its own context, with its own request id and
            # access line.
            return self._application(environ, start_response)
        self.answered += 1
        headers = [
            *answer.headers,
            ("Content-Length", str(len(answer.body))),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Request-ID", rid),
        ]
        if self._is_tls(environ):
            headers.append(("Strict-Transport-Security", HSTS))
        start_response(answer.status, headers)
        return [answer.body]

    def _application(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The application's answer, the thread's kept connection back in the pool."""
        self._give_back()
        return self.wsgi_app(environ, start_response)  # type: ignore[no-any-return]

    def _answer(self, handler: Handler, environ: dict[str, Any], raw: bytes) -> Answer | None:
        """The handler's answer, or None to hand the request on. Nothing is committed
        before a handler has everything it answers with, so handing on after any
        failure never repeats a redemption."""
        try:
            call = Call(environ, _form(raw) if raw else {}, self._remote_addr(environ))
            return handler(self, call)
        except Fallthrough:
            return None
        except Exception:
            log.exception("fast path: %s handed on after an error", environ.get("PATH_INFO"))
            return None
        finally:
            _end_session()

    def _log(self, environ: dict[str, Any], answer: Answer, rid: str, seconds: float) -> None:
        method = environ["REQUEST_METHOD"]
        path = environ["PATH_INFO"]
        access_log.info(
            "%s %s %s",
            method,
            path,
            answer.status_code,
            extra={
                "request_id": rid,
                "method": method,
                "path": path,
                "status": answer.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "endpoint": answer.endpoint,
                "client_id": answer.client_id,
                "remote_addr": self._remote_addr(environ),
            },
        )
        metrics = current_metrics()
        if metrics is not None:
            metrics.latency.labels(answer.endpoint, method).observe(seconds)

    def _remote_addr(self, environ: dict[str, Any]) -> str | None:
        if self.trust_proxy and environ.get("HTTP_X_FORWARDED_FOR"):
            # As ProxyFix(x_for=1) reads it: the address the nearest proxy appended.
            return str(environ["HTTP_X_FORWARDED_FOR"]).split(",")[-1].strip()
        found = environ.get("REMOTE_ADDR")
        return str(found) if found else None

    def _is_tls(self, environ: dict[str, Any]) -> bool:
        return environ_is_tls(environ, self.issuer_is_https, self.trust_proxy)


def _end_session() -> None:
    """Give the request's connection back; a dead one (database restarted) must not
    turn the answer, or the hand-over to the application, into a 500."""
    try:
        db.session.remove()
    except Exception:
        log.warning("fast path: the database session could not be closed", exc_info=True)


def fast_path_of(app: Flask) -> FastPath | None:
    """The fast path in front of ``app`` (None when it is not installed)."""
    layer: Any = app.wsgi_app
    while layer is not None:
        if isinstance(layer, FastPath):
            return layer
        layer = getattr(layer, "wsgi_app", None)
    return None


def init_app(app: Flask) -> None:
    """Put the fast path in front of the application."""
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
