"""The browser tests' server: a browser that resets a connection leaves no file open.

werkzeug's development server drains what is left of a request after answering it and
only then closes the answer's iterable; a reset that arrives in between raises there and
skips the close, so the static file being served stays open until the garbage collector
finds it. The tests run with warnings as errors, so that surfaced as a failure of
whichever browser test was running (Chromium resets connections it no longer needs).
"""

from __future__ import annotations

import gc
import socket
import struct
import time
import warnings
from urllib.parse import urlsplit

from tests.support.live import LiveServer


def _request_then_reset(url: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as connection:
        connection.sendall(f"GET /static/idp.css HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        connection.recv(64)  # the answer has begun: its file is open
        # SO_LINGER 0: close() sends a reset instead of a FIN.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_reset_connection_leaves_no_static_file_open(live_server: LiveServer) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(20):
            _request_then_reset(live_server.url)
        time.sleep(0.3)  # the server's threads finish with the reset connections
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
