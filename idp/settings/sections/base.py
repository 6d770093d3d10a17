"""What the sections share: the project root, units, networks, check-digit schemes."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal


def _project_root() -> Path:
    """The checkout that holds ``idp/``; for an installed package, the current folder."""
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        return checkout
    # Installed from a wheel: idp/ sits in site-packages, which is no place for data.
    return Path.cwd()


#: Where relative defaults (``instance/``, ``keys/``, ``clients/``) are resolved: the
#: checkout, or the current folder when the package is installed from a wheel.
PROJECT_ROOT = _project_root()

#: Check-digit schemes ``IDP_CARD_CHECK_DIGIT`` may name (see idp/services/cards/numbers.py).
CheckDigitScheme = Literal["none", "M10W21", "M11"]
CHECK_DIGIT_SCHEMES: tuple[CheckDigitScheme, ...] = ("none", "M10W21", "M11")
DAY = 24 * 3600
#: An address or network of an allow-list (``IDP_*_NETWORKS``: comma-separated, CIDR).
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCALHOST: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("::1/128"),
)
