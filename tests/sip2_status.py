"""Reading the patron status field of a SIP2 answer, as a terminal does."""

from __future__ import annotations

from idp.sip2.messages import PATRON_STATUS_FLAGS


def parse_patron_status(value: str) -> frozenset[str]:
    """The names of the positions set to 'Y' in a 14-character patron status field."""
    if len(value) != len(PATRON_STATUS_FLAGS):
        raise ValueError("patron status must be 14 characters")
    return frozenset(
        name for name, flag in zip(PATRON_STATUS_FLAGS, value, strict=True) if flag == "Y"
    )
