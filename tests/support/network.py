"""Loopback ports and self-signed TLS certificates for the servers the tests start."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class ReservedPort:
    """A loopback TCP port held for the caller until :meth:`close`.

    Choosing a free port and binding it later leaves a gap in which anything else on the
    machine may take the port: a server of another test run going side by side (CI runs
    two), or an outgoing connection's local port. So the port stays bound here, with
    ``SO_REUSEADDR`` and never listening: the kernel hands it to no other ``bind()`` to
    port 0 and to no outgoing connection, while the caller's own server, which sets
    ``SO_REUSEADDR`` too (werkzeug, gunicorn, granian, asyncio), binds it and listens. With
    no server, connections to it are refused.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> int:
        return self.port

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def reserved_port() -> ReservedPort:
    """``with reserved_port() as port:`` a loopback port no one else gets until the block ends."""
    return ReservedPort()


def self_signed(folder: Path, prefix: str = "") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
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
    cert_file, key_file = folder / f"{prefix}cert.pem", folder / f"{prefix}key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context that presents ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def client_context(cert: Path) -> ssl.SSLContext:
    """A client-side TLS context that trusts ``cert`` alone."""
    return ssl.create_default_context(cafile=str(cert))
