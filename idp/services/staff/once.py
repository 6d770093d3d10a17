"""One-time tokens claimed atomically across every node (a double click runs once).

A form whose answer shows a secret (a temporary password, an enrolment link) carries a
random token; :func:`claim` counts it in the sign-in limiter's store (one Redis script
or one database upsert) and answers True only for the first claim.
"""

from __future__ import annotations

import hashlib

from idp.services.container import container
from idp.services.signin import limiter

#: Seconds a claimed token is remembered (a form is never answered twice in this time).
REMEMBER = 24 * 3600


def claim(token: str) -> bool:
    """True the first time ``token`` is claimed, False for every later claim."""
    key = "once:" + hashlib.sha256(token.encode()).hexdigest()[:48]
    counters = limiter().store.reserve([(key, REMEMBER)], container().now())
    return counters[key].count == 1
