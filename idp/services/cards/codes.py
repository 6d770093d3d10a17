"""Rotating library-card codes: RFC 6238 TOTP per patron, keyed with RFC 5869 HKDF (SPEC §5)."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Literal
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.totp import TOTP

if TYPE_CHECKING:
    import redis

#: HKDF ``info`` prefix; bump the version to invalidate every card code at once.
KEY_INFO = b"idp card-code v1"
#: Longest barcode value accepted, so a scanner flood cannot feed us megabytes.
MAX_VALUE_LENGTH = 64

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() would accept "１" and "²"
_KEY_LENGTH = 32
_MIN_SECRET_LENGTH = 16

ScanReason = Literal["ok", "malformed", "expired_code", "replayed"]


@dataclass(frozen=True)
class CardCodeSettings:
    """How card codes are made and checked.

    :param secret: server secret every per-card key is derived from (at least 16 bytes).
    :param step_seconds: RFC 6238 time step ``X``.
    :param digits: length of the code: RFC 4226 §5.3 asks for at least 6, cryptography stops at 8.
    :param accepted_past_steps: earlier steps still accepted, for clock skew between the
        phone and the desk (RFC 6238 §5.2).
    """

    secret: bytes
    step_seconds: int = 30
    digits: int = 6
    accepted_past_steps: int = 1

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_SECRET_LENGTH:
            raise ValueError(f"card code secret must be at least {_MIN_SECRET_LENGTH} bytes")
        if self.step_seconds < 1:
            raise ValueError("step_seconds must be at least 1")
        if not 6 <= self.digits <= 8:
            raise ValueError("digits must be between 6 and 8")
        if self.accepted_past_steps < 0:
            raise ValueError("accepted_past_steps must not be negative")

    @property
    def replay_ttl_seconds(self) -> int:
        """How long a used code must be remembered: its whole acceptance window."""
        return (self.accepted_past_steps + 1) * self.step_seconds


@dataclass(frozen=True)
class IssuedCode:
    """A code to show on the phone.

    ``valid_until`` ends the step's own window (when the phone should refresh); the desk
    still accepts the code for ``accepted_past_steps`` more steps.
    """

    card_number: str
    value: str
    code: str
    step: int
    valid_from: int
    valid_until: int


@dataclass(frozen=True)
class ScanResult:
    """What a scanned value says. ``card_number`` is only vouched for when ``reason`` is
    ``"ok"``; it is ``None`` when the value could not be split."""

    card_number: str | None
    reason: ScanReason


class ReplayStore(Protocol):
    """Remembers used codes so that each is accepted once."""

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """Return True the first time ``key`` is claimed, False until ``ttl_seconds`` pass."""
        ...


class RedisReplayStore:
    """Replay memory shared by every worker, via ``SET key 1 NX EX ttl``."""

    def __init__(self, redis_client: redis.Redis, prefix: str = "idp:card-replay:") -> None:
        """:param redis_client: a connected client.
        :param prefix: namespace for the keys.
        """
        self._redis = redis_client
        self._prefix = prefix

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """See :meth:`ReplayStore.claim`. Expiry is Redis's job."""
        _check_ttl(ttl_seconds)
        # One atomic command, so two desks scanning the same screenshot cannot both win.
        return bool(self._redis.set(self._prefix + key, b"1", nx=True, ex=ttl_seconds))


def derive_card_key(settings: CardCodeSettings, card_number: str) -> bytes:
    """Derive one card's TOTP key from the server secret (RFC 5869).

    The card number goes into ``info`` (``KEY_INFO + b"\\x00" + card_number``) and the salt
    is left empty: RFC 5869 §3.2 puts context such as "whose key is this" in ``info``,
    and §3.1 allows no salt when the input key is already uniformly random.

    :param settings: holds the server secret.
    :param card_number: ASCII digits.
    :return: a 32-byte key.
    :raises ValueError: if ``card_number`` is not ASCII digits.
    """
    _check_card_number(card_number)
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=_KEY_LENGTH,
        salt=None,
        info=KEY_INFO + b"\x00" + card_number.encode("ascii"),
    )
    return hkdf.derive(settings.secret)


def current_code(settings: CardCodeSettings, card_number: str, now: float) -> IssuedCode:
    """Issue the code for the time step containing ``now``.

    :param settings: code settings.
    :param card_number: ASCII digits.
    :param now: unix seconds.
    :return: the code, the barcode value and the step's window.
    :raises ValueError: for a malformed card number or a time before the epoch.
    """
    if len(card_number) + settings.digits > MAX_VALUE_LENGTH:
        raise ValueError("card number too long for a barcode value")
    if now < 0:
        raise ValueError("now must not be before the unix epoch")
    totp = _totp(settings, card_number)
    step = int(now // settings.step_seconds)
    code = _code_at(totp, settings, step).decode("ascii")
    return IssuedCode(
        card_number=card_number,
        value=card_number + code,
        code=code,
        step=step,
        valid_from=step * settings.step_seconds,
        valid_until=(step + 1) * settings.step_seconds,
    )


def split_value(value: str, *, code_digits: int = 6) -> tuple[str, str] | None:
    """Split a barcode value into card number and code.

    :param value: the scanned digits, already normalised by the caller.
    :param code_digits: length of the trailing code.
    :return: ``(card_number, code)``, or None unless ``value`` is ASCII digits with at
        least one card-number digit and at most :data:`MAX_VALUE_LENGTH` characters.
    """
    if len(value) > MAX_VALUE_LENGTH or len(value) <= code_digits:
        return None
    if not _DIGITS.fullmatch(value):
        return None
    return value[:-code_digits], value[-code_digits:]


def match_code(settings: CardCodeSettings, card_number: str, code: str, now: float) -> int | None:
    """Find the time step whose code is ``code``.

    Only the current step and ``accepted_past_steps`` earlier ones are tried; a code from
    a future step is refused.

    :param settings: code settings.
    :param card_number: ASCII digits.
    :param code: the code as scanned.
    :param now: unix seconds.
    :return: the matching step counter, or None.
    """
    if len(code) != settings.digits or not _DIGITS.fullmatch(code):
        return None
    if not _DIGITS.fullmatch(card_number) or now < 0:
        return None
    totp = _totp(settings, card_number)
    current = int(now // settings.step_seconds)
    candidate = code.encode("ascii")
    oldest = max(current - settings.accepted_past_steps, 0)
    for step in range(current, oldest - 1, -1):
        if hmac.compare_digest(_code_at(totp, settings, step), candidate):
            return step
    return None


def verify_scan(
    settings: CardCodeSettings, value: str, now: float, *, replay: ReplayStore
) -> ScanResult:
    """Check a scanned barcode value and use its code up.

    Whether the card exists, is suspended or has expired is for the caller to decide
    once it has looked the patron up.

    :param settings: code settings.
    :param value: the scanned digits (card number + code), normalised by the caller.
    :param now: unix seconds.
    :param replay: where used codes are remembered.
    :return: the card number and ``"ok"``, or why the scan is refused.
    """
    parts = split_value(value, code_digits=settings.digits)
    if parts is None:
        return ScanResult(card_number=None, reason="malformed")
    card_number, code = parts
    step = match_code(settings, card_number, code, now)
    if step is None:
        return ScanResult(card_number=card_number, reason="expired_code")
    # Keyed by (card, step) rather than by scan time, so the same code stays used up
    # for as long as any verifier would still accept it.
    if not replay.claim(f"{card_number}:{step}", settings.replay_ttl_seconds):
        return ScanResult(card_number=card_number, reason="replayed")
    return ScanResult(card_number=card_number, reason="ok")


def _totp(settings: CardCodeSettings, card_number: str) -> TOTP:
    return TOTP(
        derive_card_key(settings, card_number),
        settings.digits,
        hashes.SHA256(),
        settings.step_seconds,
    )


def _code_at(totp: TOTP, settings: CardCodeSettings, step: int) -> bytes:
    # TOTP counts T = floor(time / X); the window's first second gives exactly ``step``.
    return totp.generate(step * settings.step_seconds)


def _check_card_number(card_number: str) -> None:
    if not _DIGITS.fullmatch(card_number):
        raise ValueError("card number must be ASCII digits")


def _check_ttl(ttl_seconds: int) -> None:
    if ttl_seconds < 1:
        raise ValueError("ttl_seconds must be at least 1")
