"""Whether an address lies in the allowed networks."""

from __future__ import annotations

import ipaddress

from idp.services.networks import address_in
from idp.services.networks import parse_address
from idp.services.networks import unmapped

NETWORKS = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32")]


def test_an_address_inside_a_network_is_in() -> None:
    assert address_in("192.0.2.7", NETWORKS)
    assert address_in("2001:db8::1", NETWORKS)


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address() -> None:
    assert address_in("::ffff:192.0.2.7", NETWORKS)


def test_outside_unparsable_or_missing_addresses_are_out() -> None:
    assert not address_in("198.51.100.1", NETWORKS)
    assert not address_in("not an address", NETWORKS)
    assert not address_in(None, NETWORKS)
    assert not address_in("192.0.2.7", [])


def test_an_ipv4_mapped_address_parses_as_its_ipv4_address() -> None:
    assert parse_address("::ffff:192.0.2.7") == ipaddress.ip_address("192.0.2.7")
    assert parse_address("2001:db8::1") == ipaddress.ip_address("2001:db8::1")
    assert unmapped(ipaddress.ip_address("::ffff:10.0.0.1")) == ipaddress.ip_address("10.0.0.1")


def test_what_names_no_address_parses_as_none() -> None:
    assert parse_address("not an address") is None
    assert parse_address("") is None
    assert parse_address(None) is None
