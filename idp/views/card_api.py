"""Card APIs (SPEC §5): the desk's code check and the relying parties' barcode claim.

``POST /api/card/verify``
    client-credentials token with scope ``card:verify``; JSON ``{"code": "..."}``;
    answers whether the scanned code is valid, once.
``GET /api/card/barcode``
    a patron's access token with scope ``library_card``; answers a signed barcode
    claim (``application/jwt``) that the relying party verifies against the JWKS.

Bearer errors follow RFC 6750 §3; everything else answers JSON with ``error`` and
``error_description`` (RFC 6749 §5.2 style). Answers are never cached.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from idp.extensions import csrf_exempt
from idp.models.patron import Patron
from idp.oauth.tokens import find_access_token
from idp.services import audit
from idp.services.cards.desk import desk_reserve
from idp.services.cards.desk import desk_verify
from idp.services.cards.service import CardRefusal
from idp.services.cards.service import VerifyResult
from idp.services.cards.service import barcode_claim
from idp.services.cards.service import card_refusal
from idp.services.container import container
from idp.services.signin import Slot
from idp.services.signin import limiter
from idp.views.support.bearer import BearerError
from idp.views.support.bearer import challenge
from idp.views.support.bearer import require_token
from idp.views.support.caller import caller_facts

bp = Blueprint("card_api", __name__)

#: Media type of the signed claim (RFC 7519 §10.3.1).
JWT_MEDIA_TYPE = "application/jwt"
#: Why a patron's card claim is refused, as told to the relying party.
CLAIM_REFUSALS: dict[CardRefusal, str] = {
    "suspended": "The library card is suspended.",
    "lost": "The library card has been reported lost.",
    "withdrawn": "The library card has been withdrawn.",
    "card_expired": "The library card has expired.",
    "temporary_password": "The patron must change the temporary password first.",
}


def _json_error(status: int, error: str, description: str, **extra: Any) -> Response:
    response = jsonify({"error": error, "error_description": description, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if error == "insufficient_scope":
        # RFC 6750 §3.1: the wrong kind of token gets the same challenge as a missing scope.
        response.headers["WWW-Authenticate"] = challenge(error, description)
    return response


def _code_of(body: Any) -> str:
    """The ``code`` member of a request body, or raise :class:`ValueError` saying why."""
    if not isinstance(body, dict):
        raise ValueError("The body must be a JSON object (Content-Type: application/json).")
    code = body.get("code")
    if code is None:
        raise ValueError("The 'code' member is required.")
    if not isinstance(code, str):
        raise ValueError("The 'code' member must be a string.")
    return code


def _verify_answer(result: VerifyResult) -> dict[str, Any]:
    patron = result.patron
    if result.is_valid and patron is not None:
        return {
            "valid": True,
            "card_number": patron.card_number,
            "status": patron.status,
            "expires_on": patron.expires_on.isoformat(),
        }
    answer: dict[str, Any] = {"valid": False, "reason": result.reason}
    if patron is not None and result.reason not in {"expired_code", "replayed"}:
        # A genuine code of a card that cannot be used: the desk may tell the patron why.
        answer.update(
            card_number=patron.card_number,
            status=patron.status,
            expires_on=patron.expires_on.isoformat(),
        )
    return answer


@bp.route("/api/card/verify", methods=["POST"])
@csrf_exempt  # bearer-token API for desk systems, not a browser form
def verify() -> Response:
    """Check a scanned card code for the circulation desk.

    Order: the source address's limit (before anything is looked up, so a flood of bad
    tokens is limited too), the token, the client's limits, the body, the code. The
    staff console's scan page checks codes through the same :mod:`idp.services.cards.desk`.
    """
    facts = caller_facts()
    ip = facts["ip"]
    meta: dict[str, Any] = dict(facts)
    gate = limiter()
    wait = gate.hit([Slot("card_verify_ip", ip or "")])
    if wait:
        return _throttled(wait, meta)
    try:
        token = require_token("card:verify")
    except BearerError as error:
        audit.record("card.unauthorized", status=error.response.status_code, **meta)
        return error.response
    meta["client_id"] = client_id = token.client_id
    if token.patron_id is not None:
        audit.record("card.unauthorized", status=403, **meta)
        return _json_error(
            403,
            "insufficient_scope",
            "Use an access token from the client-credentials grant.",
        )
    # The call and a refused code are reserved together, before the code is checked, so
    # that parallel calls cannot all pass a limit that only room for one is left under.
    reservation = desk_reserve(client_id)
    if not reservation.allowed:
        return _throttled(reservation.wait, meta)
    try:
        raw = _code_of(request.get_json(silent=True))
    except ValueError as exc:
        gate.settle(reservation, succeeded=True)  # a bad body is no refused code
        audit.record("card.refused", reason="invalid_request", **meta)
        return _json_error(400, "invalid_request", str(exc))
    result = desk_verify(raw, reservation, meta)
    response = jsonify(_verify_answer(result))
    response.headers["Cache-Control"] = "no-store"
    return response


def _throttled(wait: int, meta: dict[str, Any]) -> Response:
    audit.record("card.throttled", retry_after=wait, **meta)
    response = _json_error(
        429, "too_many_requests", f"Too many card checks; retry in {wait} seconds."
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _refused_card_holder() -> tuple[Patron, CardRefusal] | None:
    """The patron and refusal behind an otherwise good token whose card cannot be shown.

    The bearer validator refuses such tokens as invalid (401) for every API; here the
    relying party is told why (403), so that it can tell the patron.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value or len(value) > 512:
        return None
    token = find_access_token(value.strip())
    if token is None or token.is_revoked() or token.is_expired_at(container().now()):
        return None
    patron = token.patron
    if patron is None or "library_card" not in token.scope.split():
        return None
    refusal = card_refusal(patron, container().now())
    return (patron, refusal) if refusal is not None else None


@bp.route("/api/card/barcode")
def barcode() -> Response:
    """The signed barcode claim of the token's patron (``application/jwt``)."""
    refused = _refused_card_holder()
    if refused is not None:
        _patron, reason = refused
        return _json_error(403, "card_unavailable", CLAIM_REFUSALS[reason], reason=reason)
    try:
        token = require_token("library_card")
    except BearerError as error:
        return error.response
    patron = token.get_user()
    if patron is None:
        # A client-credentials token has no card behind it.
        return _json_error(403, "insufficient_scope", "The token was not issued for a patron.")
    body, _exp = barcode_claim(patron.as_patron(), token.get_client(), container().now())
    response = Response(body, mimetype=JWT_MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
