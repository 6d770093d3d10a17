"""A checked SAML request waiting for the patron, and the refusal of one.

Apart from :mod:`idp.saml.sso` so that the views can name them without loading pysaml2,
which is imported with the first SAML request, not with the application.
"""

from __future__ import annotations

from dataclasses import dataclass


class SamlRequestError(ValueError):
    """The request is refused; the message is for the error page and the audit line."""


@dataclass(frozen=True)
class PendingSso:
    """A checked request waiting for the patron (kept in the session's pending store)."""

    sp_entity_id: str
    request_id: str  # "" for an IdP-initiated (unsolicited) response
    acs_url: str
    relay_state: str
    is_forced: bool

    def as_params(self) -> dict[str, str]:
        """The pending store's form (strings only)."""
        return {
            "protocol": "saml",
            "sp": self.sp_entity_id,
            "request_id": self.request_id,
            "acs": self.acs_url,
            "relay_state": self.relay_state,
            "force": "1" if self.is_forced else "",
        }

    @classmethod
    def from_params(cls, params: dict[str, str]) -> PendingSso:
        """Read back :meth:`as_params`."""
        return cls(
            params.get("sp", ""),
            params.get("request_id", ""),
            params.get("acs", ""),
            params.get("relay_state", ""),
            params.get("force") == "1",
        )
