"""What patrons hold: accounts and passwords, tokens, browser sessions, the library card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from idp.settings import checks
from idp.settings.fields import setting
from idp.settings.sections.base import CHECK_DIGIT_SCHEMES
from idp.settings.sections.base import DAY
from idp.settings.sections.base import CheckDigitScheme

#: OWASP's minimum Argon2id configurations (Password Storage Cheat Sheet), as (memory in
#: KiB, iterations) with one lane: "an equal level of defense", trading memory for CPU.
#: Each costs about the same CPU time; the 9 MiB row is the default, so that a worker's
#: peak memory while it checks a password stays low (a worker holds one block at a time).
OWASP_ARGON2ID: tuple[tuple[int, int], ...] = (
    (47104, 1),
    (19456, 2),
    (12288, 3),
    (9216, 4),
    (7168, 5),
)
DEFAULT_ARGON2_MEMORY_COST, DEFAULT_ARGON2_TIME_COST = OWASP_ARGON2ID[3]


def meets_owasp_minimum(memory_cost: int, time_cost: int) -> bool:
    """True when (``memory_cost`` KiB, ``time_cost``) is at least one of OWASP's rows."""
    return any(memory_cost >= m and time_cost >= t for m, t in OWASP_ARGON2ID)


@dataclass(frozen=True)
class AccountSettings:
    """Card numbers, temporary passwords, password hashing and account changes."""

    card_number_pattern: str = setting(
        "IDP_CARD_NUMBER_PATTERN",
        r"\d{10}",
        "Card number pattern",
        "Regular expression a normalised card number must match in full.",
        check=checks.regular_expression,
    )
    card_check_digit: CheckDigitScheme = setting(
        "IDP_CARD_CHECK_DIGIT",
        "none",
        "Card check digit",
        "Check digit of the last digit: none, M10W21 (modulus 10 weights 2-1, Luhn) or "
        'M11 (modulus 11, weights 2-7); see "Card numbers as libraries write them".',
        choices=CHECK_DIGIT_SCHEMES,
    )
    temporary_password_length: int = setting(
        "IDP_TEMPORARY_PASSWORD_LENGTH",
        8,
        "Temporary password length",
        "Digits in a generated temporary password.",
        minimum=6,
        maximum=64,
    )
    temporary_password_days: int = setting(
        "IDP_TEMPORARY_PASSWORD_DAYS",
        30,
        "Temporary password validity",
        "Days a temporary password stays usable (printed on the notice); 0: no limit.",
        minimum=0,
    )
    argon2_time_cost: int = setting(
        "IDP_ARGON2_TIME_COST",
        DEFAULT_ARGON2_TIME_COST,
        "Argon2id time cost",
        "Iterations; with the memory, at least one of OWASP's minimum pairs ("
        + "; ".join(f"{m} KiB, {t}" for m, t in OWASP_ARGON2ID)
        + "), or a public issuer refuses to start. "
        "Hashes are upgraded at the next login when changed.",
        minimum=1,
        maximum=100,
    )
    argon2_memory_cost: int = setting(
        "IDP_ARGON2_MEMORY_COST",
        DEFAULT_ARGON2_MEMORY_COST,
        "Argon2id memory (KiB)",
        "Memory per hash in KiB (OWASP's 9 MiB row; a worker holds it while it checks a password).",
        minimum=8,
        maximum=4 * 1024 * 1024,
    )
    argon2_parallelism: int = setting(
        "IDP_ARGON2_PARALLELISM",
        1,
        "Argon2id parallelism",
        "Lanes per hash.",
        minimum=1,
        maximum=64,
    )
    passkey_fresh_login: int = setting(
        "IDP_PASSKEY_FRESH_LOGIN",
        600,
        "Passkey enrolment window",
        "A passkey is added only this many seconds after a sign-in with the password.",
        minimum=1,
    )
    reissue_email_min_age: int = setting(
        "IDP_REISSUE_EMAIL_MIN_AGE",
        DAY,
        "Re-issue address age",
        "Seconds an e-mail address must have been confirmed before a re-issue link is sent to it.",
        minimum=0,
    )


@dataclass(frozen=True)
class TokenSettings:
    """Lifetimes of codes and tokens."""

    code_ttl: int = setting(
        "IDP_CODE_TTL",
        60,
        "Authorization code lifetime",
        "Seconds (at most 60).",
        minimum=1,
        maximum=60,
    )
    access_token_ttl: int = setting(
        "IDP_ACCESS_TOKEN_TTL", 900, "Access token lifetime", "Seconds.", minimum=1
    )
    id_token_ttl: int = setting("IDP_ID_TOKEN_TTL", 900, "ID token lifetime", "Seconds.", minimum=1)
    refresh_token_ttl: int = setting(
        "IDP_REFRESH_TOKEN_TTL",
        30 * DAY,
        "Refresh token lifetime",
        "Seconds (issued only under offline_access).",
        minimum=1,
    )
    refresh_reuse_grace: int = setting(
        "IDP_REFRESH_REUSE_GRACE",
        5,
        "Refresh reuse grace",
        "Seconds after a rotation in which the previous refresh token is accepted once "
        "more if the new one was never used (a lost answer, then a retry); 0: never "
        "(docs/security.md §4).",
        minimum=0,
        maximum=60,
    )
    device_code_ttl: int = setting(
        "IDP_DEVICE_CODE_TTL",
        600,
        "Device code lifetime",
        "Seconds a device code and its user code live (RFC 8628 expires_in).",
        minimum=60,
        maximum=3600,
    )
    device_poll_interval: int = setting(
        "IDP_DEVICE_POLL_INTERVAL",
        5,
        "Device polling interval",
        "Seconds a device is told to wait between polls (slow_down adds 5 for that device).",
        minimum=1,
        maximum=60,
    )


@dataclass(frozen=True)
class SessionSettings:
    """The patron's login session."""

    cookie: str = setting(
        "IDP_SESSION_COOKIE",
        "idp_session",
        "Session cookie",
        "Cookie name; behind TLS it gets the __Host- prefix (Secure, Path=/, no Domain).",
    )
    lifetime: int = setting(
        "IDP_SESSION_LIFETIME", 12 * 3600, "Session lifetime", "Absolute, seconds.", minimum=60
    )
    idle_timeout: int = setting(
        "IDP_SESSION_IDLE_TIMEOUT", 2 * 3600, "Session idle timeout", "Seconds.", minimum=60
    )
    anonymous_per_address: int = setting(
        "IDP_SESSION_ANONYMOUS_PER_ADDRESS",
        200,
        "Anonymous sessions per address",
        "Server-side records of anonymous visitors (pending authorization requests) per "
        "client address; a new one drops that address's oldest (0: no cap).",
        minimum=0,
    )


@dataclass(frozen=True)
class CardSettings:
    """The library card barcode (SPEC §5; README "Library card barcode")."""

    code_step: int = setting(
        "IDP_CARD_CODE_STEP",
        30,
        "Card code step",
        "Seconds each card code is shown (RFC 6238 time step).",
        minimum=5,
        maximum=300,
    )
    skew_steps: int = setting(
        "IDP_CARD_CODE_SKEW_STEPS",
        1,
        "Card code skew",
        "Earlier steps the desk still accepts (clock skew).",
        minimum=0,
        maximum=4,
    )
    code_secret: str = setting(
        "IDP_CARD_CODE_SECRET",
        "",
        "Card code secret",
        "Secret the per-card code keys are derived from (HKDF); at least 32 characters; "
        "empty: derived from IDP_SECRET_KEY. Changing it voids every code on screen.",
        check=checks.secret_or_empty,
    )
    symbology: Literal["nw7", "code128"] = setting(
        "IDP_CARD_SYMBOLOGY",
        "nw7",
        "Barcode symbology",
        "nw7 (NW-7/Codabar, what Japanese library scanners read) or code128.",
        choices=("nw7", "code128"),
    )
    recent_login: int = setting(
        "IDP_CARD_RECENT_LOGIN",
        12 * 3600,
        "Card page login age",
        "The card page needs a login at most this old (seconds); older sessions log in again.",
        minimum=60,
    )
    replay_redis_prefix: str = setting(
        "IDP_CARD_REPLAY_REDIS_PREFIX",
        "idp:card-replay:",
        "Card replay key prefix",
        "Keys of used card codes in Redis.",
    )
