"""The circulation desk's check of a scanned card: one code path for the desk API
(``POST /api/card/verify``) and the staff console's scan page (SPEC §5, §6).

:func:`desk_gate` counts the caller's checks per minute and refuses a caller with too
many refused codes today; :func:`desk_verify` checks the code once (replay memory),
counts a refused code and audits the outcome. The caller is a client id (API) or
``staff:USERNAME`` (console); ``meta`` carries who and where for the audit rows.
"""

from __future__ import annotations

from typing import Any

from idp.context import services
from idp.models.patron import Patron
from idp.services import audit
from idp.services.cards import VerifyResult
from idp.services.cards import normalize_scan
from idp.services.cards import verify_code
from idp.services.patrons import find_patron
from idp.services.patrons import is_valid_card_number
from idp.services.throttle import throttle

#: Refusals that count toward the caller's daily limit (guessing, not a patron's mishap).
COUNTED_REFUSALS = frozenset({"malformed", "unknown", "expired_code"})


def desk_gate(caller: str) -> int:
    """Seconds ``caller`` must wait before another check (0: go ahead, and counted)."""
    gate = throttle()
    wait = max(gate.check("card_verify_client", caller), gate.check("card_verify_failures", caller))
    if not wait:
        gate.hit("card_verify_client", caller)
    return wait


def desk_verify(raw: str, caller: str, meta: dict[str, Any]) -> VerifyResult:
    """Check a scanned value and use its code up; audit ``card.verified`` or ``card.refused``.

    :param raw: the value as scanned or typed.
    :param caller: whose daily refusal counter a guessing failure counts against.
    :param meta: audit fields (``ip``, ``user_agent``, ``client_id`` or ``actor``, …).
    """
    result = verify_code(raw, services().now())
    patron_id = result.patron.id if result.patron is not None else None
    if result.is_valid:
        audit.record("card.verified", patron_id=patron_id, commit=True, **meta)
    else:
        if result.reason in COUNTED_REFUSALS:
            throttle().hit("card_verify_failures", caller)
        audit.record("card.refused", patron_id=patron_id, commit=True, reason=result.reason, **meta)
    return result


def plain_card(raw: str) -> Patron | None:
    """The patron whose printed card number ``raw`` is (a plastic card, no code), or None.

    Only a value that is a well-formed card number of an issued card counts; anything
    else is a phone code for :func:`desk_verify`.
    """
    value = normalize_scan(raw)
    if not value or not is_valid_card_number(value):
        return None
    return find_patron(value)
