"""Whether a caller's address lies in a list of allowed networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_in(address: str | None, networks: Iterable[Network]) -> bool:
    """True when ``address`` parses and lies in one of ``networks``.

    An IPv4-mapped IPv6 address counts as its IPv4 address; an unparsable one is outside.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
