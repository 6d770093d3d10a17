"""Caller addresses: parsing them, and whether one lies in a list of allowed networks.

The one place that reads an IPv4-mapped IPv6 address (``::ffff:192.0.2.7``, as a
dual-stack socket reports an IPv4 peer) as the IPv4 address it carries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def unmapped(ip: IPAddress) -> IPAddress:
    """``ip``, or the IPv4 address an IPv4-mapped IPv6 address carries."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_address(address: str | None) -> IPAddress | None:
    """The address ``address`` names (IPv4-mapped ones as IPv4), or None when it names none."""
    try:
        return unmapped(ipaddress.ip_address(address or ""))
    except ValueError:
        return None


def address_in(address: str | None, networks: Iterable[Network]) -> bool:
    """True when ``address`` parses and lies in one of ``networks``.

    An IPv4-mapped IPv6 address counts as its IPv4 address; an unparsable one is outside.
    """
    ip = parse_address(address)
    return ip is not None and any(ip in network for network in networks)
