"""A live server on loopback for tests that use real HTTP clients."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server

from idp import create_app
from tests.conftest import empty_database


@dataclass
class LiveServer:
    """A running server: its base URL and the application behind it."""

    url: str
    app: Flask


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(app_config: dict[str, Any], clock: Any) -> Iterator[LiveServer]:
    """The IdP served by werkzeug in a thread on 127.0.0.1 (its issuer is that URL)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app({**app_config, "IDP_ISSUER": url})
    app.extensions["idp"].clock = clock
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with app.app_context():
            yield LiveServer(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with app.app_context():
            empty_database()
