"""Database outages: retry a request once after a lost connection, otherwise answer 503.

A pooled connection can die under a request (database restart, failover, a terminated
backend). SQLAlchemy then invalidates the pool, so the next attempt gets a new
connection. A request is run again once when that happened and running it again is
safe: the method is idempotent, or the request had not sent any statement but SELECT.
Every other database outage (a second failure, no connection at all, a busy pool, a
locked SQLite file) is answered ``503 Service Unavailable`` with ``Retry-After`` in the
protocol's own format: the OAuth error ``temporarily_unavailable`` in JSON on the
protocol and API endpoints, a page on browser pages. Nothing here depends on the pool's
pre-ping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import has_request_context
from flask import jsonify
from flask import request
from flask import session
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

from idp.extensions import db
from idp.services.container import container

log = logging.getLogger(__name__)

#: Methods that may be run twice (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Statements that change nothing; any other one means the request started writing.
_READ_ONLY = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK")


class DatabaseUnavailableError(RuntimeError):
    """The database cannot answer now; the request is answered 503."""


def is_unavailable(error: BaseException) -> bool:
    """True for errors that mean "the database is away or busy", not "bad data"."""
    if isinstance(error, DatabaseUnavailableError | sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return False


def is_disconnect(error: BaseException) -> bool:
    """True when the connection in use was lost (SQLAlchemy invalidated it and the pool)."""
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


def may_retry(error: BaseException) -> bool:
    """The current request may run again after ``error``."""
    if not is_disconnect(error) or g.get("_idp_db_retried"):
        return False
    return request.method in IDEMPOTENT_METHODS or not g.get("_idp_db_wrote")


def discard_transaction() -> None:
    """Roll the request's transaction back, also when its connection is already gone.

    Rolling back on a terminated connection raises; SQLAlchemy has invalidated the
    connection by then, and the second attempt only resets the session.
    """
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.rollback()


def _end_request(_error: BaseException | None) -> None:
    # Runs before Flask-SQLAlchemy's own teardown, whose rollback would raise out of the
    # request (and be answered 500) when the connection died after the last statement.
    if not db.session.registry.has():
        return  # the session was never used (e.g. the fast path): nothing to end
    try:
        discard_transaction()
    except SQLAlchemyError:
        log.warning("could not end the database transaction", exc_info=True)
        db.session.close()


def _note_write(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    # Runs before every statement: nothing to do outside a request (the fast path) or
    # once the request is known to have written.
    if (
        has_request_context()
        and not g.get("_idp_db_wrote")
        and not statement.lstrip()[:9].upper().startswith(_READ_ONLY)
    ):
        g._idp_db_wrote = True
    return statement, parameters


def run_view(app: Flask, view: Callable[[], Any]) -> Response:
    """Run the view, commit its work and save the session, again once after a lost
    connection.

    The request is one unit of work: services only add to the database session, and it
    is committed here, once, when the view has answered (a view that raises is rolled
    back at teardown). The session is saved here (its own save in Flask's response
    processing then has nothing left to do), so that a failed commit of either is retried
    or answered 503 too.
    """
    while True:
        try:
            response = app.make_response(view())
            db.session.commit()
            app.session_interface.save_session(app, session, response)
        except Exception as error:
            if not is_unavailable(error):
                raise
            discard_transaction()
            if not may_retry(error):
                raise DatabaseUnavailableError(str(error.__class__.__name__)) from error
            g._idp_db_retried = True
            log.warning("database connection lost; running %s again", request.path)
            continue
        return response


def unavailable_response() -> Response:
    """The 503 answer in the format of the endpoint asked."""
    from idp.views.support.errors import JSON_PREFIXES
    from idp.views.support.errors import error_page

    if request.path.startswith(JSON_PREFIXES):
        response = jsonify(
            {
                "error": "temporarily_unavailable",
                "error_description": "The service is temporarily unavailable; retry later.",
            }
        )
        response.status_code = 503
    else:
        response = error_page(
            503, _("The service is busy or under maintenance. Please try again in a moment.")
        )
    response.headers["Retry-After"] = container().settings.site.retry_after
    response.headers["Cache-Control"] = "no-store"
    return response


def _unavailable(error: BaseException) -> Response:
    from idp.views.support.sessions import ServerSession

    discard_transaction()
    current = session._get_current_object()  # type: ignore[attr-defined]
    if isinstance(current, ServerSession):
        current.unavailable = True  # nothing of it is saved with the 503
    log.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.path,
        (error.__cause__ or error).__class__.__name__,
    )
    return unavailable_response()


def _database_error(error: sa_exc.SQLAlchemyError) -> Any:
    if is_unavailable(error):
        return _unavailable(error)
    # Anything else is a defect: the catch-all handler logs it and answers 500.
    handler = current_app.error_handler_spec[None][None][Exception]
    return handler(error)


def _server_error(error: InternalServerError) -> Any:
    # An outage while opening the session or processing the response reaches Flask's
    # last-resort handler; it is still an outage, not a defect.
    original = error.original_exception
    if original is not None and is_unavailable(original):
        return _unavailable(original)
    handler = current_app.error_handler_spec[None][None][HTTPException]
    return handler(error)


#: Paths that never use the browser session (besides the JSON ones, idp/views/support/errors.py).
_SESSIONLESS = ("/healthz", "/readyz", "/metrics", "/static/")


def _refuse_without_session() -> Response | None:
    # The session could not be read (open_session): a browser page may not act without
    # it (a login form would fail its CSRF check); protocol endpoints do not use it.
    from idp.views.support.errors import JSON_PREFIXES

    if getattr(session, "unavailable", False) and not request.path.startswith(
        JSON_PREFIXES + _SESSIONLESS
    ):
        raise DatabaseUnavailableError("session")
    return None


class IdpFlask(Flask):
    """Flask, with each view run by :func:`run_view`."""

    def dispatch_request(self) -> Response:
        return run_view(self, lambda: Flask.dispatch_request(self))


def init_app(app: Flask) -> None:
    """Register the 503 handlers, the session check and the write tracking."""
    app.register_error_handler(DatabaseUnavailableError, _unavailable)
    app.register_error_handler(sa_exc.SQLAlchemyError, _database_error)
    app.register_error_handler(InternalServerError, _server_error)
    # Before CSRF checks and every other hook.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_without_session)
    app.teardown_appcontext(_end_request)
    with app.app_context():
        # retval: called as it is, without SQLAlchemy's wrapper.
        event.listen(db.engine, "before_cursor_execute", _note_write, retval=True)
