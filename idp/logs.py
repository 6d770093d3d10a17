"""Logs: one line per request with a request id, JSON or text (``IDP_LOG_FORMAT``).

Every request gets an id: the incoming ``X-Request-ID`` when it looks like one (so a
load balancer's id follows the request through), a fresh random one otherwise. It is
echoed in the ``X-Request-ID`` response header and added to every log line written while
the request runs. The access line (logger ``idp.access``) holds the method, the path
*without* its query string (authorization codes and states travel there), the status,
the duration in milliseconds, the endpoint and the client id when the request names one.
Never a password, token, code or cookie: the token of a one-time link in a path is
replaced by ``[redacted]`` in every line the formatters write (:mod:`idp.redaction`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import sys
import time
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import has_request_context
from flask import request

from idp.metrics import current_metrics
from idp.redaction import redact
from idp.settings import app_settings

access_log = logging.getLogger("idp.access")

#: An incoming request id is kept only when it matches this (else a new one is made).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
#: Longest client id written to a log line (client ids are at most 64 in the database).
MAX_CLIENT_ID = 64
#: Attributes of every :class:`logging.LogRecord`; the rest are a line's own fields.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
#: Marks the handler :func:`configure_logging` installs, so that it is replaced, not added.
_HANDLER_NAME = "idp"
#: Where a request keeps its id and start time (the WSGI environ lives as long as it).
_ENVIRON_ID = "idp.request_id"
_ENVIRON_START = "idp.request_started"


#: The id of a request answered before Flask (idp.views.support.fast), for its log lines.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "idp_request_id", default=None
)


def request_id_for(incoming: str) -> str:
    """A request's id: the incoming ``X-Request-ID`` when it looks like one, else a new
    one (128 random bits in hex). It names a request in the logs and is sent back to
    the caller: unique, not secret, so it is drawn without a system call (the
    generator is seeded anew in every forked worker)."""
    if SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return f"{random.getrandbits(128):032x}"


def request_id() -> str | None:
    """The id of the current request (None outside a request)."""
    if not has_request_context():
        return current_request_id.get()
    found: str | None = request.environ.get(_ENVIRON_ID)
    return found


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record written during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and value is not None and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(_encode(entry))


_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


#: The last second :func:`_utc_time` formatted, with its text (one tuple: replaced whole).
_LAST_SECOND: list[tuple[int, str]] = [(-1, "")]


def _utc_time(created: float) -> str:
    """``created`` as ISO 8601 in UTC to the millisecond (``…T12:00:00.123+00:00``).
    The date and time of day are formatted once a second, not once a line."""
    seconds = int(created)
    last = _LAST_SECOND[0]
    if last[0] != seconds:
        last = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
        _LAST_SECOND[0] = last
    return f"{last[1]}.{int((created - seconds) * 1000):03d}+00:00"


class TextFormatter(logging.Formatter):
    """Readable lines for development: time, level, logger, request id, message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        #: The last second formatted, with its text (one tuple: replaced whole).
        self._last_second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """``logging``'s own local time with milliseconds, its date and time of day
        formatted once a second, not once a line."""
        seconds = int(record.created)
        last = self._last_second
        if last[0] != seconds:
            last = (seconds, time.strftime(self.default_time_format, self.converter(seconds)))
            self._last_second = last
        return self.default_msec_format % (last[1], record.msecs)  # type: ignore[operator]

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        return redact(super().format(record))


class DropServerAccessLines(logging.Filter):
    """Drops the development server's own request lines (werkzeug logs the query string,
    where codes travel; our access line replaces them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return '"%s" %s %s' not in str(record.msg)


def make_formatter(kind: str) -> logging.Formatter:
    """The formatter for ``IDP_LOG_FORMAT`` (``json`` or ``text``)."""
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure_logging(kind: str, level: str) -> None:
    """Send the root logger's records to stderr in ``kind`` format at ``level``.

    Idempotent: calling it again replaces the handler it installed before.
    """
    # No line names its caller's file, thread or process: not looked up for every record
    # (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(make_formatter(kind))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    server_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, DropServerAccessLines) for f in server_log.filters):
        server_log.addFilter(DropServerAccessLines())


def _client_id() -> str | None:
    """The client a request names: HTTP Basic user, or a ``client_id`` parameter.

    Only what the request already parsed is read, so a refused body is never parsed here.
    """
    found: str | None = g.get("client_id")
    if not found and request.authorization is not None:
        found = request.authorization.username
    if not found:
        found = request.args.get("client_id")
    if not found and "form" in request.__dict__:
        found = request.form.get("client_id")
    return found[:MAX_CLIENT_ID] if found else None


def _start_request() -> None:
    if _ENVIRON_ID in request.environ:
        return
    request.environ[_ENVIRON_START] = time.perf_counter()
    request.environ[_ENVIRON_ID] = request_id_for(request.headers.get("X-Request-ID", ""))


def _finish_request(response: Response) -> Response:
    _start_request()  # when the request failed before the first hook ran
    rid = str(request.environ[_ENVIRON_ID])
    response.headers["X-Request-ID"] = rid
    seconds = time.perf_counter() - float(request.environ[_ENVIRON_START])
    endpoint = request.endpoint or "none"
    path = redact(request.path)
    access_log.info(
        "%s %s %s",
        request.method,
        path,
        response.status_code,
        extra={
            "request_id": rid,
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
            "endpoint": endpoint,
            "client_id": _client_id(),
            "remote_addr": request.remote_addr,
        },
    )
    metrics = current_metrics()
    if metrics is not None:
        metrics.latency.labels(endpoint, request.method).observe(seconds)
    return response


def init_app(app: Flask) -> None:
    """Install the log handler (outside tests) and the request-id and access-log hooks."""
    if not app.testing:
        configure_logging(app_settings(app).logs.format, app_settings(app).logs.level)
    # First before every other hook, so that their log lines carry the id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
