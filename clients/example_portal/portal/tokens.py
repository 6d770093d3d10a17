"""Checking what the IdP signs: logout tokens and the library-card barcode claim.

Both are JWTs signed with the IdP's keys (RS256, ``kid`` in the header) and are checked
against the JWKS named by the discovery document, with joserfc. When the ``kid`` is not
in the cached JWKS, the keys are fetched once more (the IdP rotated its key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

#: Back-Channel Logout §2.4: the event that makes a JWT a logout token.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SIGNING_ALGORITHMS = ["RS256"]
#: Seconds of clock difference tolerated between the portal and the IdP.
LEEWAY = 30
#: Logout tokens issued longer ago than this are refused, whatever their ``exp``.
MAX_LOGOUT_TOKEN_AGE = 300


class TokenError(ValueError):
    """A token is not acceptable; the message says why (safe to show, no token inside)."""


def decode_signed(token: str, fetch_jwks: Callable[[bool], Any]) -> jwt.Token:
    """Verify the signature of a compact JWS against the IdP's JWKS.

    :param fetch_jwks: returns the JWKS; called with True to bypass the cache.
    :raises TokenError: for a malformed token or a bad signature.
    """
    if not isinstance(token, str) or not token or len(token) > 16_384:
        raise TokenError("no token")
    try:
        try:
            return jwt.decode(token, KeySet.import_key_set(fetch_jwks(False)), SIGNING_ALGORITHMS)
        except InvalidKeyIdError:
            return jwt.decode(token, KeySet.import_key_set(fetch_jwks(True)), SIGNING_ALGORITHMS)
    except JoseError as exc:
        raise TokenError(f"signature check failed ({exc.error})") from exc
    except ValueError as exc:
        raise TokenError("malformed token") from exc


def _validate(claims: dict[str, Any], now: int, **options: Any) -> None:
    registry = jwt.JWTClaimsRegistry(now=now, leeway=LEEWAY, **options)
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise TokenError(f"claim check failed ({exc.error}: {exc.description})") from exc


def validate_logout_token(
    token: str,
    fetch_jwks: Callable[[bool], Any],
    *,
    issuer: str,
    client_id: str,
    now: int | None = None,
) -> dict[str, Any]:
    """Validate a Logout Token as OpenID Connect Back-Channel Logout 1.0 §2.6 asks.

    :return: the claims (``sid`` and/or ``sub``, ``jti``, ``exp`` …).
    :raises TokenError: naming the first check that failed.
    """
    now = int(time.time()) if now is None else now
    # §2.6 step 3: "Validate the Logout Token signature in the same way that an ID Token
    # signature is validated" (the alg is fixed to what the IdP publishes, never "none").
    decoded = decode_signed(token, fetch_jwks)
    typ = decoded.header.get("typ")
    if typ is not None and str(typ).lower() not in {"logout+jwt", "application/logout+jwt"}:
        # Explicit typing (RFC 8725 §3.11): an ID token is never taken for a logout token.
        raise TokenError("not a logout token (typ)")
    claims = dict(decoded.claims)
    # §2.6 step 4: "Validate the iss, aud, iat, and exp Claims in the same way they are
    # validated in ID Tokens."
    _validate(
        claims,
        now,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    )
    if not isinstance(claims.get("iat"), int) or claims["iat"] < now - MAX_LOGOUT_TOKEN_AGE:
        raise TokenError("logout token is too old (iat)")
    # §2.6 step 5: "Verify that the Logout Token contains a sub Claim, a sid Claim, or both."
    sid, sub = claims.get("sid"), claims.get("sub")
    if sid is None and sub is None:
        raise TokenError("logout token has neither sid nor sub")
    if not all(v is None or (isinstance(v, str) and v) for v in (sid, sub)):
        raise TokenError("sid and sub must be strings")
    # §2.6 step 6: "Verify that the Logout Token contains an events Claim whose value is
    # JSON object containing the member name http://schemas.openid.net/event/backchannel-logout."
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
        raise TokenError("logout token has no back-channel logout event")
    # §2.6 step 7: "Verify that the Logout Token does not contain a nonce Claim."
    if "nonce" in claims:
        raise TokenError("logout token must not contain a nonce")
    if not isinstance(claims.get("jti"), str):
        raise TokenError("jti must be a string")
    return claims


def validate_barcode_claim(
    token: str,
    fetch_jwks: Callable[[bool], Any],
    *,
    issuer: str,
    client_id: str,
    subject: str,
    now: int | None = None,
) -> dict[str, Any]:
    """Validate the IdP's signed barcode claim (its README, "Library card barcode").

    :param subject: the ``sub`` of the signed-in patron: the card must be theirs.
    :return: the claims: ``card_number``, ``barcode``, ``symbology``, ``nbf``, ``exp`` …
    :raises TokenError: naming the first check that failed.
    """
    now = int(time.time()) if now is None else now
    claims = dict(decode_signed(token, fetch_jwks).claims)
    _validate(
        claims,
        now,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True, "value": subject},
        exp={"essential": True},
        card_number={"essential": True},
        barcode={"essential": True},
        symbology={"essential": True, "values": ["nw7", "code128"]},
    )
    barcode, card_number = claims["barcode"], claims["card_number"]
    if not (isinstance(barcode, str) and barcode.isascii() and barcode.isdigit()):
        raise TokenError("barcode must be digits")
    if not (isinstance(card_number, str) and barcode.startswith(card_number)):
        raise TokenError("barcode does not belong to the card")
    return claims
