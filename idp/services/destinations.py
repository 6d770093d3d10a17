"""Where the provider itself sends requests: back-channel logout URIs (SSRF guard).

A back-channel logout URI makes this server POST to an address a client file names.
Pointed at a loopback, private, link-local (cloud metadata at 169.254.169.254) or other
non-global address, it would reach into the provider's own network. Such URIs are
refused when clients are registered, unless the client file says
``backchannel_logout_allow_private = true`` or private destinations are allowed for the
installation (``IDP_BACKCHANNEL_ALLOW_PRIVATE``; by default only in development and
tests). Because a name can resolve differently later (DNS rebinding), every delivery
checks again the address it actually connected to (:func:`checked_session`).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from idp.services.networks import IPAddress
from idp.services.networks import unmapped


class DestinationError(ValueError):
    """The destination is not a public address (the message says which and why)."""


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local…)."""
    address = unmapped(address)
    return address.is_global and not address.is_multicast


def private_allowed(allow_private: str, development: bool) -> bool:
    """Whether every client may use private destinations (``IDP_BACKCHANNEL_ALLOW_PRIVATE``).

    ``auto`` (the default): only in development and tests (``development``: Flask's
    ``DEBUG`` or ``TESTING``).
    """
    value = allow_private.strip().lower()
    if value == "auto":
        return development
    return value in {"true", "1", "yes", "on"}


def _resolve(host: str) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        try:
            found.append(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        except ValueError:
            continue
    return found


def check_uri(uri: str) -> None:
    """Refuse a URI whose host is, or now resolves to, a non-public address.

    A name that does not resolve now is accepted: it is checked at each delivery.

    :raises DestinationError: naming the host and the address.
    """
    host = (urlsplit(uri).hostname or "").rstrip(".")
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise DestinationError(f"{host} is a loopback name")
    for address in _resolve(host):
        if not is_public(address):
            raise DestinationError(f"{host} is (or resolves to) the non-public address {address}")


def checked_session(*, allow_private: bool) -> Any:
    """A ``requests`` session that refuses to talk to a non-public peer address.

    The check is made on the socket after it connected (the address actually used,
    whatever DNS said before), so a name that resolves to a private address at delivery
    time is refused. Proxies from the environment are not used: the peer must be the
    client's own server.
    """
    import requests  # imported on first delivery only (about 6 MB per process)

    session = requests.Session()
    session.trust_env = False
    if not allow_private:
        adapter = _public_only_adapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def _peer_check(sock: socket.socket) -> None:
    peer = sock.getpeername()[0]
    address = ipaddress.ip_address(str(peer).split("%")[0])
    if not is_public(address):
        sock.close()
        raise DestinationError(f"refused to deliver to the non-public address {address}")


def _public_only_adapter() -> Any:
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection
    from urllib3.connection import HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool
    from urllib3.connectionpool import HTTPSConnectionPool

    class PublicHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            _peer_check(sock)
            return sock

    class PublicHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            _peer_check(sock)
            return sock

    class PublicHTTPPool(HTTPConnectionPool):
        ConnectionCls = PublicHTTPConnection

    class PublicHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = PublicHTTPSConnection

    class PublicOnlyAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": PublicHTTPPool,
                "https": PublicHTTPSPool,
            }

    return PublicOnlyAdapter()
