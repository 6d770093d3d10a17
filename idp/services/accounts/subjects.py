"""Subject identifiers per client: public or pairwise (OIDC Core §8)."""

from __future__ import annotations

import hashlib

from idp.models.client import Client
from idp.models.patron import Patron


def subject_for(patron: Patron, client: Client, secret: str) -> str:
    """The ``sub`` value ``client`` sees for ``patron``.

    Pairwise values follow OIDC Core §8.1's suggested construction:
    ``sub = SHA-256(sector_identifier || local_sub || salt)``, so that two clients in
    different sectors cannot correlate a patron. The salt is derived from the server secret.
    """
    if client.subject_type != "pairwise":
        return patron.subject
    salt = hashlib.sha256(b"idp pairwise salt\x00" + secret.encode()).hexdigest()
    material = f"{client.sector_of()}\x00{patron.subject}\x00{salt}".encode()
    return hashlib.sha256(material).hexdigest()
