"""The SIP2 responder on the real database: a terminals file, a served port, raw terminals."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from Sip2.sip2 import Sip2

from idp.sip2.messages import Message
from idp.sip2.messages import checksum
from idp.sip2.messages import parse_message
from idp.sip2.server import Sip2Server
from idp.sip2.service import create_server

DLIBRARY_PASSWORD = "dlibrary-terminal-pass-0001"
SELFCHECK_PASSWORD = "selfcheck-terminal-pass-02"
PROXY_PASSWORD = "proxy-terminal-pass-000003"
HASHED_PASSWORD = "hashed-terminal-pass-00004"
#: The environment the terminals file's ``password_env`` variables are read from.
TERMINAL_ENV = {
    "SIP2_TEST_DLIBRARY": DLIBRARY_PASSWORD,
    "SIP2_TEST_SELFCHECK": SELFCHECK_PASSWORD,
    "SIP2_TEST_PROXY": PROXY_PASSWORD,
}
#: Every secret the tests send, to check that none reaches a log or the audit table.
SECRETS = (DLIBRARY_PASSWORD, SELFCHECK_PASSWORD, PROXY_PASSWORD, HASHED_PASSWORD)
DATE = "20060101    084237"
SUMMARY = " " * 10


def terminals_toml(hashed: str) -> str:
    """The test terminals file: a vendor, a self-check, a proxy without login, a hash."""
    return f"""
[[terminal]]
login = "d-library"
password_env = "SIP2_TEST_DLIBRARY"
institution_id = "CENTRAL"
language = "ja"
allow_name = true
allow_email = true

[[terminal]]
login = "selfcheck"
password_env = "SIP2_TEST_SELFCHECK"
language = "en"
networks = ["127.0.0.0/8"]

[[terminal]]
login = "proxy"
password_env = "SIP2_TEST_PROXY"
login_required = false

[[terminal]]
login = "faraway"
password_hash = "{hashed}"
networks = ["192.0.2.0/24"]

[[terminal]]
login = "hashed"
password_hash = "{hashed}"
language = "en"
"""


@pytest.fixture(scope="session")
def terminal_hash() -> str:
    return PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(HASHED_PASSWORD)


@pytest.fixture
def terminals_file(tmp_path: Path, terminal_hash: str) -> Path:
    path = tmp_path / "sip2-terminals.toml"
    path.write_text(terminals_toml(terminal_hash), encoding="utf-8")
    return path


@pytest.fixture
def app_config(app_config: dict[str, Any], terminals_file: Path) -> dict[str, Any]:
    """The SIP2 settings; per-address limits high so that tests count only what they mean."""
    app_config.update(
        IDP_SIP2_TERMINALS=str(terminals_file),
        IDP_SIP2_INSTITUTION_ID="DEFAULT",
        IDP_SIP2_EXPIRY_FIELD="PA",
        IDP_THROTTLE_IP_PER_MINUTE=1000,
        IDP_THROTTLE_NET_PER_MINUTE=1000,
    )
    return app_config


@pytest.fixture
def make_server(app: Flask) -> Iterator[Callable[..., Sip2Server]]:
    """Start the product's responder (``create_server``) on a free loopback port."""
    servers: list[Sip2Server] = []

    def make(**overrides: Any) -> Sip2Server:
        server = create_server(app, env=TERMINAL_ENV, host="127.0.0.1", port=0, **overrides)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.shutdown()


@pytest.fixture
def server(make_server: Callable[..., Sip2Server]) -> Sip2Server:
    return make_server()


def signed(text: str) -> bytes:
    """``text`` followed by ``AZ`` and its checksum."""
    data = (text + "AZ").encode()
    return data + checksum(data).encode()


def login(user: str, password: str, seq: int = 0) -> bytes:
    return signed(f"9300CN{user}|CO{password}|CPLocationCode|AY{seq}")


def patron_status(card: str, password: str | None = None, *, seq: int = 1, ac: str = "") -> bytes:
    ad = "" if password is None else f"AD{password}|"
    return signed(f"23001{DATE}AOUWOLS|AA{card}|{ad}AC{ac}|AY{seq}")


def patron_information(card: str, password: str | None = None, *, seq: int = 2) -> bytes:
    ad = "" if password is None else f"AD{password}|"
    return signed(f"63001{DATE}{SUMMARY}AOUWOLS|AA{card}|{ad}AY{seq}")


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
                pass
        except ConnectionResetError:
            pass
        except TimeoutError:
            return False
        return True


@pytest.fixture
def connect(server: Sip2Server) -> Iterator[Callable[..., RawClient]]:
    """Open raw connections to ``server`` (closed after the test)."""
    sockets: list[socket.socket] = []

    def open_(timeout: float = 5) -> RawClient:
        sock = socket.create_connection(server.address, timeout=timeout)
        sockets.append(sock)
        return RawClient(sock)

    yield open_
    for sock in sockets:
        sock.close()


@pytest.fixture
def terminal(connect: Callable[..., RawClient]) -> RawClient:
    """A raw connection logged in as the e-library vendor (names and e-mail allowed)."""
    client = connect()
    assert client.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
    return client


class QuietSip2(Sip2):  # type: ignore[misc]
    """The PyPI client, minus the print in its finaliser (the fixture disconnects it)."""

    def __del__(self) -> None:
        pass


@pytest.fixture
def sip2_client(server: Sip2Server) -> Iterator[Sip2]:
    """The independent PyPI ``sip2`` client, connected to ``server``."""
    client = QuietSip2()
    client.hostName, client.hostPort = server.address
    client.tlsEnable = False
    client.institutionId = "CENTRAL"
    # A logger of our own, or the client opens ./sip2.log.
    client.log = logging.getLogger("tests.sip2_client")
    client.connect()
    yield client
    client.disconnect()


def write_self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip2 test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "sip2-cert.pem", folder / "sip2-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def client_tls_context(cert_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert_file))
