"""SIP2 on loopback for tests: start servers, speak raw bytes, or use the PyPI ``sip2`` client."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from Sip2.sip2 import Sip2

from idp.sip2.messages import Message
from idp.sip2.messages import checksum
from idp.sip2.messages import parse_message
from idp.sip2.server import Sip2Server


def signed(text: str) -> bytes:
    """``text`` followed by ``AZ`` and its checksum."""
    data = (text + "AZ").encode()
    return data + checksum(data).encode()


class RawClient:
    """A terminal speaking SIP2 bytes over a plain (or TLS) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, data: bytes, ending: bytes = b"\r") -> None:
        self.sock.sendall(data + ending)

    def read_raw(self) -> bytes:
        """One response, without its CR."""
        while b"\r" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r")
        return line

    def ask(self, data: bytes, ending: bytes = b"\r") -> Message:
        self.send(data, ending)
        return parse_message(self.read_raw())

    def is_closed(self) -> bool:
        """Wait for the server to hang up: True, or False when it has not within the timeout."""
        try:
            while self.sock.recv(4096):
                pass  # e.g. a TLS alert before the hang-up
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


@contextmanager
def server_starter(build: Callable[..., Sip2Server]) -> Iterator[Callable[..., Sip2Server]]:
    """``make(**overrides)`` builds a server with ``build``, starts it; all stop afterwards."""
    servers: list[Sip2Server] = []

    def make(**overrides: Any) -> Sip2Server:
        server = build(**overrides)
        servers.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.shutdown()


@contextmanager
def raw_connections() -> Iterator[Callable[..., RawClient]]:
    """``open_(server, timeout)`` connects a :class:`RawClient`; all close afterwards."""
    clients: list[RawClient] = []

    def open_(server: Sip2Server, timeout: float = 5) -> RawClient:
        client = RawClient(socket.create_connection(server.address, timeout=timeout))
        clients.append(client)
        return client

    try:
        yield open_
    finally:
        for client in clients:
            client.close()


class QuietSip2(Sip2):  # type: ignore[misc]
    """The PyPI client, minus the print in its finaliser (:func:`pypi_client` disconnects it)."""

    def __del__(self) -> None:
        pass


@contextmanager
def pypi_client(server: Sip2Server, institution_id: str) -> Iterator[Sip2]:
    """The independent PyPI ``sip2`` client, connected to ``server`` over plain TCP."""
    client = QuietSip2()
    client.hostName, client.hostPort = server.address
    client.tlsEnable = False
    client.institutionId = institution_id
    # A logger of our own, or the client opens ./sip2.log.
    client.log = logging.getLogger("tests.sip2_client")
    client.connect()
    try:
        yield client
    finally:
        client.disconnect()
