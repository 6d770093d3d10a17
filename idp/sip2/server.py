"""A SIP2 ACS on TCP or TLS, answering patron authentication from a :class:`PatronDirectory`.

The socket side of 3M SIP2 2.00: framing (messages end with CR; LF and CRLF are accepted),
the connection caps (in all and per address), the terminals' networks checked when a
connection is accepted, the login deadline, the idle timeout, the message size cap and
TLS; each connection's protocol state is a :class:`~idp.sip2.session.Sip2Session`.

One thread per connection (:class:`socketserver.ThreadingTCPServer`): the directory call is
blocking work (a database query, an Argon2 verification taking tens of milliseconds), which
would stall every other terminal on a single selector loop; the connection cap bounds the
number of threads.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import ssl
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from idp.sip2.directory import PatronDirectory
from idp.sip2.session import Sip2Options
from idp.sip2.session import Sip2Session
from idp.sip2.terminals import TerminalLoginGuard
from idp.sip2.terminals import TerminalPassword
from idp.sip2.terminals import TerminalRegistry
from idp.sip2.terminals import TerminalSettings

logger = logging.getLogger(__name__)

_LINE_END = re.compile(rb"[\r\n]")


class _Handler(socketserver.BaseRequestHandler):
    server: _ThreadingServer

    def handle(self) -> None:
        if isinstance(self.request, socket.socket):
            self.server.owner._serve_connection(self.request, self.client_address)


class _ThreadingServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() joins the connection threads

    def __init__(self, address: tuple[str, int], owner: Sip2Server) -> None:
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(owner.options.max_connections)
        self._per_address: dict[str, int] = {}
        self._count_lock = threading.Lock()
        super().__init__(address, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Refused connections are closed at once by socketserver, before any byte is read.
        source_ip = str(client_address[0])
        if not self.owner.terminals.accepts_connection_from(source_ip):
            logger.warning("sip2: no terminal may connect from there, refused ip=%s", source_ip)
            return False
        with self._count_lock:
            held = self._per_address.get(source_ip, 0)
            if held >= self.owner.options.max_connections_per_address:
                logger.warning("sip2: per-address connection cap reached, refused ip=%s", source_ip)
                return False
            if not self._slots.acquire(blocking=False):
                logger.warning("sip2: connection cap reached, refused ip=%s", source_ip)
                return False
            self._per_address[source_ip] = held + 1
        return True

    def _release(self, client_address: Any) -> None:
        source_ip = str(client_address[0])
        with self._count_lock:
            left = self._per_address.pop(source_ip, 1) - 1
            if left > 0:
                self._per_address[source_ip] = left
            self._slots.release()

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(client_address)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.error("sip2: unexpected connection error ip=%s", client_address[0])


class Sip2Server:
    """A SIP2 ACS on a TCP port, optionally TLS.

    The socket is bound on construction (port 0 picks a free port, see :attr:`port`); run
    :meth:`serve_forever`, or :meth:`start` for a background thread, then :meth:`shutdown`.
    """

    def __init__(
        self,
        directory: PatronDirectory,
        terminals: Mapping[str, tuple[TerminalPassword, TerminalSettings]],
        *,
        host: str = "127.0.0.1",
        port: int = 6001,
        ssl_context: ssl.SSLContext | None = None,
        options: Sip2Options | None = None,
        login_guard: TerminalLoginGuard | None = None,
    ) -> None:
        """:param directory: the patron store.
        :param terminals: terminal user → (password or its hash, settings).
        :param host: address to listen on.
        :param port: TCP port; 0 for any free one.
        :param ssl_context: a server-side context to speak TLS, or None for plain TCP.
        :param options: limits and protocol settings.
        :param login_guard: throttling and audit of terminal logins.
        :raises ValueError: for invalid terminal credentials.
        :raises OSError: when the address cannot be bound.
        """
        self.directory = directory
        self.terminals = TerminalRegistry(terminals)
        self.options = options or Sip2Options()
        self.login_guard = login_guard
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._server = _ThreadingServer((host, port), self)

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def is_tls(self) -> bool:
        """True when the server speaks TLS."""
        return self._ssl_context is not None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return self.address[1]

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Accept connections until :meth:`shutdown` (called from another thread)."""
        self._server.serve_forever(poll_interval=poll_interval)

    def start(self, poll_interval: float = 0.05) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, args=(poll_interval,), name="sip2-server", daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop accepting, end open connections, close the socket and wait for the threads."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            connections = list(self._connections)
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        for connection in connections:
            # The plain socket call, so a TLS socket's state is left to its own thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        self._server.server_close()

    def __enter__(self) -> Sip2Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def _serve_connection(self, sock: socket.socket, address: Any) -> None:
        login_deadline = time.monotonic() + self.options.login_timeout
        source_ip = str(address[0])
        connection = sock
        session = Sip2Session(
            self.directory,
            self.terminals,
            self.options,
            source_ip=source_ip,
            login_guard=self.login_guard,
        )
        if not self._track(sock):
            return
        try:
            sock.settimeout(min(self.options.idle_timeout, self.options.login_timeout))
            if self._ssl_context is not None:
                try:
                    connection = self._ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                    # The plain socket is detached now: shutdown() must reach the TLS one,
                    # even during the handshake.
                    if not self._track(connection, replacing=sock):
                        return
                    connection.do_handshake()
                except (OSError, ValueError) as exc:
                    logger.info("sip2: TLS handshake failed ip=%s why=%r", source_ip, str(exc))
                    return
            self._converse(connection, session, source_ip, login_deadline)
        except Exception as exc:
            # Type and frames only: an exception's text may carry what it was given.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            terminal = session.terminal.name if session.terminal else "-"
            logger.error(
                "sip2: %s while serving terminal %s from %s; closing\n%s",
                type(exc).__name__,
                terminal,
                source_ip,
                frames,
            )
        finally:
            with self._lock:
                self._connections.difference_update((sock, connection))
            if connection is not sock:
                connection.close()

    def _track(self, connection: socket.socket, replacing: socket.socket | None = None) -> bool:
        """Register a connection for :meth:`shutdown`; False once shutting down."""
        with self._lock:
            if replacing is not None:
                self._connections.discard(replacing)
            if self._closing:
                return False
            self._connections.add(connection)
            return True

    def _converse(
        self,
        connection: socket.socket,
        session: Sip2Session,
        source_ip: str,
        login_deadline: float,
    ) -> None:
        """Read messages and answer them until the terminal or a limit ends the connection.

        Two deadlines: the idle timeout, renewed by every complete message, and until a
        terminal has authenticated the login deadline, which nothing renews (an ACS
        Status request every few seconds cannot hold a connection without logging in).
        """
        options = self.options
        buffer = bytearray()
        deadline = time.monotonic() + options.idle_timeout
        while True:
            while (line_end := _LINE_END.search(buffer)) is not None:
                line = bytes(buffer[: line_end.start()])
                del buffer[: line_end.end()]
                if not line:
                    continue  # the LF of a CRLF, or a blank line
                reply = session.handle(line)
                if reply.data is not None:
                    try:
                        connection.settimeout(options.idle_timeout)
                        connection.sendall(reply.data)
                    except OSError:
                        return
                if reply.close:
                    return
                deadline = time.monotonic() + options.idle_timeout
            if len(buffer) > options.max_message_bytes:
                logger.warning("sip2: over-long message, closing ip=%s", source_ip)
                return
            if not session.is_authenticated and time.monotonic() >= login_deadline:
                logger.info("sip2: no login in time, closing ip=%s", source_ip)
                return
            until = deadline if session.is_authenticated else min(deadline, login_deadline)
            remaining = until - time.monotonic()
            if remaining <= 0:
                logger.info("sip2: idle connection, closing ip=%s", source_ip)
                return
            try:
                connection.settimeout(remaining)
                chunk = connection.recv(4096)
            except TimeoutError:
                logger.info("sip2: idle connection, closing ip=%s", source_ip)
                return
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
