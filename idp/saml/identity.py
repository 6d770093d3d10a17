"""What a service provider learns about a patron: a pairwise NameID and attributes.

The NameID is persistent and pairwise (SAML 2.0 Core §8.3.7): a SHA-256 of the patron's
internal subject and the SP's entity ID under a salt derived per SP from the server
secret, like the OIDC pairwise ``sub`` — never the card number, and two SPs cannot
correlate a patron. The same value, scoped, is the ``pairwise-id`` attribute of the SAML
V2.0 Subject Identifier Attributes Profile (§3.4).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from idp.models.patron import Patron

#: SAML V2.0 Subject Identifier Attributes Profile §3.4.
PAIRWISE_ID = "urn:oasis:names:tc:SAML:attribute:pairwise-id"
#: The entitlement e-resource vendors license against (MACE-Dir).
COMMON_LIB_TERMS = "urn:mace:dir:entitlement:common-lib-terms"
#: The card number's attribute name (no standard one exists; SPs map it by this URI).
CARD_NUMBER = "urn:x-library-idp:attribute:libraryCardNumber"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

#: Friendly name → attribute name (URI) of every attribute an SP file may allow.
ATTRIBUTE_NAMES: dict[str, str] = {
    "pairwise-id": PAIRWISE_ID,
    "eduPersonEntitlement": "urn:oid:1.3.6.1.4.1.5923.1.1.1.7",
    "eduPersonScopedAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "libraryCardNumber": CARD_NUMBER,
}
#: Released when an SP file does not say: nothing that names the patron.
DEFAULT_ATTRIBUTES = ("pairwise-id", "eduPersonEntitlement", "eduPersonScopedAffiliation")


def pairwise_value(patron: Patron, sp_entity_id: str, secret: str) -> str:
    """The patron's persistent pairwise identifier at ``sp_entity_id`` (64 hex digits)."""
    salt = hmac.new(
        secret.encode(), b"idp saml pairwise salt\x00" + sp_entity_id.encode(), hashlib.sha256
    ).digest()
    return hmac.new(salt, patron.subject.encode(), hashlib.sha256).hexdigest()


def attributes_for(
    patron: Patron,
    allowed: Iterable[str],
    *,
    pairwise: str,
    scope: str,
    affiliations: Iterable[str],
) -> dict[str, list[str]]:
    """The attributes (friendly name → values) an SP allowed these names receives."""
    values: dict[str, list[str]] = {
        "pairwise-id": [f"{pairwise}@{scope}"],
        "eduPersonEntitlement": [COMMON_LIB_TERMS],
        "eduPersonScopedAffiliation": [f"{a}@{scope}" for a in affiliations],
        "displayName": [patron.name] if patron.name else [],
        "libraryCardNumber": [patron.card_number],
    }
    return {name: values[name] for name in allowed if values.get(name)}


def attribute_converter_map() -> dict[str, Any]:
    """pysaml2's attribute-map form of :data:`ATTRIBUTE_NAMES` (URI name format)."""
    return {
        "identifier": URI_FORMAT,
        "to": dict(ATTRIBUTE_NAMES),
        "fro": {uri: name for name, uri in ATTRIBUTE_NAMES.items()},
    }
