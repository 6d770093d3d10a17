"""The library card on the phone and at the desk (SPEC §5): show, verify, sign.

Pure code arithmetic lives in :mod:`idp.services.cards.codes` and the images in
:mod:`idp.services.cards.barcode`; this module adds the patron, the configuration, the replay
memory and the signed barcode claim for relying parties.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Literal
from typing import cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt

from idp.models.client import Client
from idp.models.patron import Patron
from idp.redis_client import SharedRedis
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.subjects import subject_for
from idp.services.cards.barcode import Symbology
from idp.services.cards.barcode import render_svg
from idp.services.cards.barcode import strip_codabar_start_stop
from idp.services.cards.codes import CardCodeSettings
from idp.services.cards.codes import IssuedCode
from idp.services.cards.codes import RedisReplayStore
from idp.services.cards.codes import ReplayStore
from idp.services.cards.codes import current_code
from idp.services.cards.codes import split_value
from idp.services.cards.codes import verify_scan
from idp.services.cards.replay import DatabaseReplayStore
from idp.services.cards.replay import FallbackReplayStore
from idp.services.cards.replay import KeyedReplayStore
from idp.services.container import container
from idp.services.keys import SIGNING_ALG
from idp.services.signin import SignInOutcome
from idp.services.signin import refusal_reason
from idp.settings.sections import CardSettings

#: JOSE ``typ`` of the signed barcode claim (RFC 8725 §3.11: explicit typing).
CLAIM_TYPE = "card-barcode+jwt"
#: Longest scan accepted before normalising (anything longer is malformed).
MAX_SCAN_LENGTH = 256

#: Why a card cannot be shown or used now (wire values of the card APIs, mapped from
#: :class:`~idp.services.signin.SignInOutcome`).
CardRefusal = Literal["suspended", "lost", "withdrawn", "card_expired", "temporary_password"]
#: The desk API's answer: ``ok`` or why the scan is refused.
VerifyReason = Literal[
    "ok",
    "malformed",
    "unknown",
    "expired_code",
    "replayed",
    "card_expired",
    "suspended",
    "lost",
    "withdrawn",
]


@dataclass
class CardService:
    """The card settings and replay memory of one application; see :func:`card_service`."""

    codes: CardCodeSettings
    symbology: Symbology
    replay: ReplayStore
    recent_login: int


def _code_secret(settings: CardSettings, app_secret: str) -> bytes:
    configured = settings.code_secret
    if configured:
        return configured.encode()
    # A key of its own, derived from the application secret (RFC 5869), so that the
    # card codes never share key material with cookies or signed links.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp card-code secret v1")
    return hkdf.derive(app_secret.encode())


def build_card_service(
    settings: CardSettings, app_secret: str, shared: SharedRedis | None
) -> CardService:
    """Build the service from the ``IDP_CARD_*`` settings (on ``shared`` Redis if any)."""
    codes = CardCodeSettings(
        secret=_code_secret(settings, app_secret),
        step_seconds=settings.code_step,
        accepted_past_steps=settings.skew_steps,
    )
    store: ReplayStore = DatabaseReplayStore(_now)
    if shared is not None:
        primary = RedisReplayStore(shared.client, settings.replay_redis_prefix)
        store = FallbackReplayStore(primary, DatabaseReplayStore(_now), shared)
    return CardService(
        codes=codes,
        symbology=settings.symbology,
        replay=KeyedReplayStore(store, codes.secret),
        recent_login=settings.recent_login,
    )


def _now() -> dt.datetime:
    # Read at each use: tests move the application's clock after the service is built.
    return container().now()


def card_service() -> CardService:
    """The card service of the current application."""
    return container().cards


def card_refusal(patron: Patron, now: dt.datetime) -> CardRefusal | None:
    """Why ``patron``'s card cannot be shown now, or None when it can.

    Mapped from the sign-in core's one vocabulary
    (:func:`~idp.services.signin.refusal_reason`): a temporary password, expired or not,
    is ``temporary_password`` here.

    :param patron: the card holder.
    :param now: the current time.
    """
    outcome = refusal_reason(patron, now)
    if outcome is None:
        return None
    if outcome is SignInOutcome.TEMPORARY_PASSWORD_EXPIRED:
        return "temporary_password"
    return cast("CardRefusal", outcome.value)


@dataclass(frozen=True)
class CardCode:
    """The code on screen now, and its picture."""

    issued: IssuedCode
    symbology: Symbology
    svg: str
    #: Seconds until the next code (at least 1).
    seconds_left: int


def show_code(patron: Patron, now: dt.datetime) -> CardCode:
    """The current code of ``patron``'s card, rendered as an inline SVG.

    :param patron: a patron whose card may be shown (see :func:`card_refusal`).
    :param now: the current time.
    """
    card = card_service()
    issued = current_code(card.codes, patron.card_number, now.timestamp())
    return CardCode(
        issued=issued,
        symbology=card.symbology,
        svg=render_svg(issued.value, card.symbology),
        seconds_left=max(1, int(issued.valid_until - now.timestamp())),
    )


def normalize_scan(raw: str) -> str:
    """What a desk scanner sent, as the digits of a barcode value.

    NFKC turns full-width digits (from a keyboard-wedge scanner in a Japanese input
    mode) into ASCII; NW-7 start/stop letters are dropped whether or not the scanner
    transmits them; surrounding whitespace (a trailing CR/LF) is ignored.
    """
    if len(raw) > MAX_SCAN_LENGTH:
        return ""
    text = unicodedata.normalize("NFKC", raw).strip()
    return strip_codabar_start_stop(text)


@dataclass(frozen=True)
class VerifyResult:
    """The desk's answer, and the patron when the card number is known."""

    reason: VerifyReason
    patron: Patron | None = None

    @property
    def is_valid(self) -> bool:
        return self.reason == "ok"


def verify_code(raw: str, now: dt.datetime) -> VerifyResult:
    """Check a scanned card code and use it up (each code is accepted once).

    Order: the shape (``malformed``), the card (``unknown``), the code (``expired_code``,
    ``replayed``), then the card's standing (``suspended``, ``lost``, ``withdrawn``,
    ``card_expired``): a genuine code of a suspended card says so.

    :param raw: the value as scanned.
    :param now: the current time.
    """
    card = card_service()
    value = normalize_scan(raw)
    parts = split_value(value, code_digits=card.codes.digits)
    if parts is None:
        return VerifyResult("malformed")
    patron = find_patron(parts[0])
    if patron is None:
        return VerifyResult("unknown")
    scan = verify_scan(card.codes, value, now.timestamp(), replay=card.replay)
    if scan.reason != "ok":
        return VerifyResult(cast("VerifyReason", scan.reason), patron)
    refusal = card_refusal(patron, now)
    if refusal is not None and refusal != "temporary_password":
        # A temporary password concerns the web sign-in, not the card at the desk.
        return VerifyResult(refusal, patron)
    return VerifyResult("ok", patron)


def barcode_claim(patron: Patron, client: Client, now: dt.datetime) -> tuple[str, int]:
    """The signed barcode claim for a relying party (README "Library card barcode").

    A JWS (RS256, the provider's current key, ``typ`` :data:`CLAIM_TYPE`) whose payload
    holds ``iss``, ``sub`` (as ``client`` sees the patron), ``aud``, ``card_number``,
    ``card_expires_on``, ``barcode``, ``symbology``, ``iat``, ``nbf`` (start of the
    code's time step) and ``exp`` (its end: when the relying party fetches the next one).

    :param patron: a patron whose card may be shown.
    :param client: the relying party the access token was issued to.
    :param now: the current time.
    :return: the compact JWS and its ``exp``.
    """
    card = card_service()
    config = container().config
    settings = container().settings
    issued = current_code(card.codes, patron.card_number, now.timestamp())
    key = container().keys.active_key()
    header = {"alg": SIGNING_ALG, "kid": str(key.kid), "typ": CLAIM_TYPE}
    claims = {
        "iss": settings.site.issuer,
        "sub": subject_for(patron, client, config["SECRET_KEY"]),
        "aud": client.client_id,
        "card_number": patron.card_number,
        "card_expires_on": patron.expires_on.isoformat(),
        "barcode": issued.value,
        "symbology": card.symbology,
        "iat": int(now.timestamp()),
        "nbf": issued.valid_from,
        "exp": issued.valid_until,
    }
    return jwt.encode(header, claims, key, algorithms=[SIGNING_ALG]), issued.valid_until
