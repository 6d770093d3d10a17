"""The IdP served for real (werkzeug, threaded) on loopback, for real HTTP clients and browsers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server

from idp import create_app
from tests.support.network import reserved_port


@dataclass
class LiveServer:
    """A running server: its base URL and the application behind it."""

    url: str
    app: Flask


def answered_whole(app: Flask) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """``app`` with each answer read whole and its iterable closed before the server
    writes it. werkzeug's development server closes the iterable only after draining
    the rest of the request, and a connection reset there (a browser dropping a request
    it no longer needs) skips the close: a static file stayed open until the garbage
    collector found it, and the tests run with warnings as errors. No answer of the IdP
    is streamed."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()

    return wsgi


@contextmanager
def running(app: Flask, port: int) -> Iterator[None]:
    """Serve ``app`` with werkzeug (threaded) on 127.0.0.1:``port`` until the block ends.

    ``port`` is one the caller holds (:func:`tests.support.network.reserved_port`).
    """
    server: BaseWSGIServer = make_server("127.0.0.1", port, answered_whole(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve(
    app_config: dict[str, Any],
    *,
    clock: Callable[[], Any] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[LiveServer]:
    """Serve a new app on ``app_config`` at ``http://<host>:<free port>`` (its issuer).

    ``host`` names the issuer only (the socket is always 127.0.0.1): WebAuthn needs
    ``localhost``. With ``clock``, the app runs on the test's clock. Afterwards the
    server stops and the test's database is emptied.
    """
    from tests.conftest import empty_database

    with reserved_port() as port:
        url = f"http://{host}:{port}"
        app = create_app({**app_config, "IDP_ISSUER": url})
        if clock is not None:
            app.extensions["idp"].clock = clock
        try:
            with running(app, port), app.app_context():
                yield LiveServer(url, app)
        finally:
            with app.app_context():
                empty_database()
