"""The settings, in sections: each ``IDP_*`` variable with its type, default and meaning.

This is the one place a setting is declared. The README's configuration table is
generated from it (``idp config docs``; tests/unit/test_settings.py keeps it in step).
Durations are whole seconds unless the name says otherwise; a limit of 0 switches that
limit off where its description says so, and negative numbers are always refused.

One module over 400 lines on purpose: like node oidc-provider's defaults file, every
setting is declared and documented in one place a maintainer reads top to bottom; the
sections are plain declarations with no logic (the checks are in checks.py), alike in
shape from one setting to the next, which is all `duplicates` finds in them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from idp.settings import checks
from idp.settings.fields import setting


def _project_root() -> Path:
    """The checkout that holds ``idp/``; for an installed package, the current folder."""
    checkout = Path(__file__).resolve().parent.parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout
    # Installed from a wheel: idp/ sits in site-packages, which is no place for data.
    return Path.cwd()


#: Where relative defaults (``instance/``, ``keys/``, ``clients/``) are resolved: the
#: checkout, or the current folder when the package is installed from a wheel.
PROJECT_ROOT = _project_root()

#: Check-digit schemes ``IDP_CARD_CHECK_DIGIT`` may name (see idp/services/cards/numbers.py).
CheckDigitScheme = Literal["none", "M10W21", "M11"]
CHECK_DIGIT_SCHEMES: tuple[CheckDigitScheme, ...] = ("none", "M10W21", "M11")
DAY = 24 * 3600
#: An address or network of an allow-list (``IDP_*_NETWORKS``: comma-separated, CIDR).
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOCALHOST: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("::1/128"),
)


@dataclass(frozen=True)
class SiteSettings:
    """Who this provider is and where it keeps its files."""

    issuer: str = setting(
        "IDP_ISSUER",
        "http://127.0.0.1:5000",
        "Issuer identifier",
        "Public base URL of this provider, without a trailing slash; must be https:// "
        "outside TESTING/DEBUG (only localhost may use http://).",
        check=checks.issuer_url,
    )
    secret_key: str | None = setting(
        "IDP_SECRET_KEY",
        None,
        "Application secret",
        "Cookies, signed links, pairwise salt and derived keys; at least 32 random "
        "characters. Unset: generated into instance/secret_key on first start.",
    )
    instance_dir: str = setting(
        "IDP_INSTANCE_DIR",
        str(PROJECT_ROOT / "instance"),
        "Instance folder",
        "Database (SQLite default), generated secret, mail outbox.",
        shown="instance/",
    )
    keys_dir: str = setting(
        "IDP_KEYS_DIR",
        str(PROJECT_ROOT / "keys"),
        "Signing keys folder",
        "Private signing keys (JWK files) and their state file (see keys/README.md).",
        shown="keys/",
    )
    clients_dir: str = setting(
        "IDP_CLIENTS_DIR",
        str(PROJECT_ROOT / "clients"),
        "Client files folder",
        "Client registration files (*.toml) for `idp clients sync`.",
        shown="clients/",
    )
    trust_proxy: bool = setting(
        "IDP_TRUST_PROXY",
        False,
        "Behind a reverse proxy",
        "1: trust X-Forwarded-For/-Proto/-Host from one reverse proxy.",
    )
    languages: tuple[str, ...] = setting(
        "IDP_LANGUAGES",
        ("ja", "en"),
        "Page languages",
        "Languages of the hosted pages, comma-separated; the first is the default.",
        check=checks.languages,
    )
    timezone: str = setting(
        "IDP_TIMEZONE",
        "Asia/Tokyo",
        "Library time zone",
        "A card is valid until the end of its expiry day here.",
        check=checks.time_zone,
    )
    fast_path: bool = setting(
        "IDP_FAST_PATH",
        True,
        "Fast path",
        "Answer the common successful /token, /userinfo and /introspect requests before "
        "Flask (same rules; docs/performance.md); 0: always through Flask and Authlib.",
    )
    retry_after: int = setting(
        "IDP_RETRY_AFTER",
        5,
        "Retry-After when unavailable",
        "Seconds in Retry-After when the database is unavailable (503).",
        minimum=1,
        maximum=3600,
    )


@dataclass(frozen=True)
class LibrarySettings:
    """How the library is named and reached on pages, mails and the printed notice."""

    name: str = setting(
        "IDP_LIBRARY_NAME", "市立中央図書館", "Library name", "Shown on pages and notices."
    )
    name_en: str = setting(
        "IDP_LIBRARY_NAME_EN", "City Central Library", "Library name (English)", "On English pages."
    )
    portal_name: str = setting(
        "IDP_PORTAL_NAME",
        "Myライブラリ",
        "Portal name",
        "The patron portal's name: page header and titles, the refusal message, mails, the notice.",
    )
    portal_name_en: str = setting(
        "IDP_PORTAL_NAME_EN", "MyLibrary", "Portal name (English)", "On English pages."
    )
    url: str = setting(
        "IDP_LIBRARY_URL",
        "",
        "Library web site",
        "Linked from the start and help pages and the footer (empty: none).",
        check=checks.web_url_or_empty,
    )
    contact: str = setting(
        "IDP_LIBRARY_CONTACT",
        "",
        "Library contact",
        "How to reach the library (address, phone, opening hours; lines separated by \\n): "
        "start and help pages, mail signature, notice.",
    )
    contact_en: str = setting(
        "IDP_LIBRARY_CONTACT_EN",
        "",
        "Library contact (English)",
        "The contact text on English pages and mails (empty: the Japanese text).",
    )
    mylibrary_url: str = setting(
        "IDP_MYLIBRARY_URL",
        "",
        "Patron account address",
        "Where patrons manage their account, printed on the notice (empty: IDP_ISSUER + /account).",
        check=checks.web_url_or_empty,
    )


@dataclass(frozen=True)
class DatabaseSettings:
    """The database and each worker's connection pool."""

    url: str | None = setting(
        "IDP_DATABASE_URL",
        None,
        "Database URL",
        "SQLAlchemy URL; PostgreSQL: postgresql+psycopg://user:pass@host/db. Unset: a "
        "SQLite file instance/idp.sqlite3.",
        check=checks.database_url,
    )
    pool_size: int = setting(
        "IDP_DB_POOL_SIZE",
        5,
        "Pool size",
        "Connections per worker process kept open. Keep pool size + overflow above "
        "IDP_THREADS (a password check holds a second connection for its counters).",
        minimum=1,
        maximum=1000,
    )
    max_overflow: int = setting(
        "IDP_DB_MAX_OVERFLOW",
        5,
        "Pool overflow",
        "Extra connections per worker process allowed under load.",
        minimum=0,
        maximum=1000,
    )
    pool_timeout: int = setting(
        "IDP_DB_POOL_TIMEOUT", 10, "Pool wait", "Seconds to wait for a free connection.", minimum=1
    )
    pool_recycle: int = setting(
        "IDP_DB_POOL_RECYCLE",
        1800,
        "Connection recycle",
        "Seconds after which a pooled connection is replaced.",
        minimum=1,
    )
    sqlite_busy_timeout: int = setting(
        "IDP_SQLITE_BUSY_TIMEOUT",
        30,
        "SQLite lock wait",
        "SQLite: seconds a request waits for the write lock before it is answered 503.",
        minimum=1,
    )
    sqlite_synchronous: str = setting(
        "IDP_SQLITE_SYNCHRONOUS",
        "normal",
        "SQLite durability",
        "normal: no fsync per commit (WAL); a commit survives a crash of the process, the "
        "last ones may roll back, each as a whole, on a power loss. full: fsync every "
        "commit (writes several times slower).",
        choices=("normal", "full"),
    )


@dataclass(frozen=True)
class RedisSettings:
    """The optional Redis shared by every node, and when to fall back without it."""

    url: str | None = setting(
        "IDP_REDIS_URL",
        None,
        "Redis URL",
        "Counters and replay caches shared by several nodes (unset: database and memory).",
        check=checks.redis_url,
    )
    timeout_ms: int = setting(
        "IDP_REDIS_TIMEOUT_MS",
        250,
        "Redis timeout (ms)",
        "Connect/read timeout of the shared Redis client; slower means Redis is down "
        "(fallbacks are used).",
        minimum=1,
        maximum=60_000,
    )
    health_check_interval: int = setting(
        "IDP_REDIS_HEALTH_CHECK_INTERVAL",
        30,
        "Redis health check",
        "Seconds an idle Redis connection may wait before it is checked with PING.",
        minimum=0,
    )
    retry_seconds: int = setting(
        "IDP_REDIS_RETRY_SECONDS",
        30,
        "Redis retry",
        "After a Redis failure, seconds every caller uses its fallback before Redis is "
        "tried again.",
        minimum=0,
    )


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
        2,
        "Argon2id time cost",
        "Iterations (OWASP minimum 2); hashes are upgraded at the next login when changed.",
        minimum=1,
        maximum=100,
    )
    argon2_memory_cost: int = setting(
        "IDP_ARGON2_MEMORY_COST",
        19456,
        "Argon2id memory (KiB)",
        "Memory per hash in KiB (OWASP minimum 19456).",
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
class StaffSettings:
    """The staff console under /staff."""

    session_cookie: str = setting(
        "IDP_STAFF_SESSION_COOKIE",
        "idp_staff",
        "Staff session cookie",
        "The staff console's own cookie (Path=/staff).",
    )
    session_idle_timeout: int = setting(
        "IDP_STAFF_SESSION_IDLE_TIMEOUT", 15 * 60, "Staff idle timeout", "Seconds.", minimum=60
    )
    session_lifetime: int = setting(
        "IDP_STAFF_SESSION_LIFETIME", 10 * 3600, "Staff session lifetime", "Seconds.", minimum=60
    )
    enrolment_hours: int = setting(
        "IDP_STAFF_ENROLMENT_HOURS",
        24,
        "Enrolment link validity",
        "Hours an enrolment link of `idp staff add` / `reset` stays usable (once).",
        minimum=1,
        maximum=24 * 30,
    )
    networks: tuple[Network, ...] = setting(
        "IDP_STAFF_NETWORKS",
        (),
        "Staff networks",
        "Addresses or CIDR networks, comma-separated, that may open /staff; others get "
        "403 (empty: any).",
    )
    lock_after: int = setting(
        "IDP_STAFF_LOCK_AFTER",
        10,
        "Staff lock",
        "Consecutive wrong passwords, or wrong second-factor answers, that lock a staff "
        "account (`idp staff enable`); 0: never locks.",
        minimum=0,
        maximum=100,
    )


@dataclass(frozen=True)
class ThrottleSettings:
    """Throttling and lockout against guessing (SPEC §7; docs/security.md).

    Per-minute, per-hour and per-day limits accept 0, which switches that limit off.
    """

    card_free_failures: int = setting(
        "IDP_THROTTLE_CARD_FREE_FAILURES",
        5,
        "Free failures per card",
        "Consecutive failures on one card without a delay.",
        minimum=0,
    )
    card_delay: int = setting(
        "IDP_THROTTLE_CARD_DELAY",
        60,
        "Card delay",
        "Seconds to wait after the last failure once the free ones are used; doubles with "
        "every further failure.",
        minimum=0,
    )
    card_max_delay: int = setting(
        "IDP_THROTTLE_CARD_MAX_DELAY", 3600, "Card delay cap", "Seconds.", minimum=0
    )
    card_lock_after: int = setting(
        "IDP_THROTTLE_CARD_LOCK_AFTER",
        20,
        "Card lock",
        "Consecutive failures that lock a card (`idp patrons unlock`); NIST SP 800-63B "
        "allows at most 100; 0: never locks.",
        minimum=0,
        maximum=100,
    )
    card_forget: int = setting(
        "IDP_THROTTLE_CARD_FORGET",
        30 * DAY,
        "Card counter memory",
        "Seconds after the last failure when a card's delay counter is forgotten.",
        minimum=60,
    )
    ip_per_minute: int = setting(
        "IDP_THROTTLE_IP_PER_MINUTE",
        10,
        "Checks per address",
        "Password checks per minute from one client address (0: off).",
        minimum=0,
    )
    net_per_minute: int = setting(
        "IDP_THROTTLE_NET_PER_MINUTE",
        30,
        "Checks per network",
        "Password checks per minute from one /24 (IPv4) or /64 (IPv6) (0: off).",
        minimum=0,
    )
    ip_failures_per_day: int = setting(
        "IDP_THROTTLE_IP_FAILURES_PER_DAY",
        100,
        "Failures per address",
        "Failed sign-ins per UTC day from one address (0: off).",
        minimum=0,
    )
    net_failures_per_day: int = setting(
        "IDP_THROTTLE_NET_FAILURES_PER_DAY",
        300,
        "Failures per network",
        "Failed sign-ins per UTC day from one network (0: off).",
        minimum=0,
    )
    redis_prefix: str = setting(
        "IDP_THROTTLE_REDIS_PREFIX",
        "idp:throttle:",
        "Throttle key prefix",
        "Prefix of the throttle keys in Redis (several installations may share one Redis).",
    )
    reissue_ip_per_minute: int = setting(
        "IDP_REISSUE_IP_PER_MINUTE",
        5,
        "Re-issue requests per minute",
        "Password re-issue requests per minute from one address (0: off).",
        minimum=0,
    )
    reissue_ip_per_hour: int = setting(
        "IDP_REISSUE_IP_PER_HOUR",
        20,
        "Re-issue requests per hour",
        "Password re-issue requests per hour from one address (0: off).",
        minimum=0,
    )
    reissue_card_per_hour: int = setting(
        "IDP_REISSUE_CARD_PER_HOUR",
        3,
        "Re-issue mails per card",
        "Re-issue mails per hour for one card, whoever asks (the same page is shown past it).",
        minimum=0,
    )
    device_ip_per_minute: int = setting(
        "IDP_DEVICE_IP_PER_MINUTE",
        10,
        "User codes per minute",
        "User codes entered on /device per minute from one address (0: off).",
        minimum=0,
    )
    device_ip_failures_per_hour: int = setting(
        "IDP_DEVICE_IP_FAILURES_PER_HOUR",
        20,
        "Wrong user codes per hour",
        "Wrong user codes per hour from one address (0: off).",
        minimum=0,
    )
    device_code_entries: int = setting(
        "IDP_DEVICE_CODE_ENTRIES",
        5,
        "Entries per user code",
        "Times one device's user code may be entered (a code read off a screen by many is "
        "refused after that); 0: no limit.",
        minimum=0,
    )
    card_verify_client_per_minute: int = setting(
        "IDP_CARD_VERIFY_CLIENT_PER_MINUTE",
        300,
        "Desk calls per client",
        "Card verification calls per minute per desk client (0: off).",
        minimum=0,
    )
    card_verify_ip_per_minute: int = setting(
        "IDP_CARD_VERIFY_IP_PER_MINUTE",
        120,
        "Desk calls per address",
        "Card verification calls per minute per source address (0: off).",
        minimum=0,
    )
    card_verify_failures_per_day: int = setting(
        "IDP_CARD_VERIFY_FAILURES_PER_DAY",
        1000,
        "Refused desk codes per day",
        "Refused codes (malformed, unknown, expired_code) per UTC day per desk client "
        "before it is paused (0: off).",
        minimum=0,
    )


@dataclass(frozen=True)
class MailSettings:
    """Outgoing mail."""

    smtp_url: str | None = setting(
        "IDP_SMTP_URL",
        None,
        "SMTP server",
        "smtp://user:pass@host:25, STARTTLS with smtp+starttls://… or ?starttls=1, TLS with "
        "smtps://… (unset: .eml files in instance/outbox/).",
        check=checks.smtp_url,
    )
    sender: str = setting(
        "IDP_MAIL_FROM", "library@example.org", "Sender address", "Address in the From header."
    )
    sender_name: str = setting(
        "IDP_MAIL_FROM_NAME",
        "",
        "Sender name",
        "Display name of the From header (empty: the library's name).",
    )


@dataclass(frozen=True)
class PurgeSettings:
    """Deleting expired data."""

    interval: int = setting(
        "IDP_PURGE_INTERVAL",
        900,
        "Purge interval",
        "Seconds between two runs of the purge inside `idp serve` (one node of many runs "
        "it); 0: only `idp purge` purges.",
        minimum=0,
    )
    batch: int = setting(
        "IDP_PURGE_BATCH", 500, "Purge batch", "Rows deleted per transaction.", minimum=1
    )
    audit_retention_days: int = setting(
        "IDP_AUDIT_RETENTION_DAYS",
        400,
        "Audit retention",
        "Days an audit event is kept before the purge deletes it; 0: kept forever.",
        minimum=0,
    )


@dataclass(frozen=True)
class LogSettings:
    """Log lines."""

    format: str = setting(
        "IDP_LOG_FORMAT",
        "text",
        "Log format",
        "text (readable) or json (one object per line; `idp serve` uses json unless told "
        "otherwise).",
        choices=("text", "json"),
    )
    level: str = setting(
        "IDP_LOG_LEVEL",
        "INFO",
        "Log level",
        "Lowest level written.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    )


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics at /metrics."""

    enabled: bool = setting("IDP_METRICS", False, "Metrics", "1: Prometheus metrics at /metrics.")
    networks: tuple[Network, ...] = setting(
        "IDP_METRICS_NETWORKS",
        LOCALHOST,
        "Metrics readers",
        "Addresses or CIDR networks that may read /metrics.",
    )
    token: str | None = setting(
        "IDP_METRICS_TOKEN",
        None,
        "Metrics token",
        "Anyone sending Authorization: Bearer with this secret may read /metrics (unset: nobody).",
    )


@dataclass(frozen=True)
class ServerSettings:
    """`idp serve`: the HTTP server and its workers (idp/granian_conf.py, idp/gunicorn_conf.py)."""

    server: str = setting(
        "IDP_SERVER",
        "granian",
        "HTTP server",
        "granian (idp/granian_conf.py) or gunicorn (idp/gunicorn_conf.py).",
        choices=("granian", "gunicorn"),
    )
    bind: str = setting(
        "IDP_BIND", "127.0.0.1:8000", "Listen address", "host:port.", check=checks.bind_address
    )
    workers: int = setting(
        "IDP_WORKERS",
        0,
        "Worker processes",
        "0: 2 × cores + 1.",
        minimum=0,
        maximum=256,
    )
    threads: int = setting(
        "IDP_THREADS",
        1,
        "Threads per worker",
        "granian's blocking threads; gunicorn's threaded workers above 1.",
        minimum=1,
        maximum=256,
    )
    graceful_timeout: int = setting(
        "IDP_GRACEFUL_TIMEOUT",
        30,
        "Graceful timeout",
        "Seconds a worker gets to finish its requests on restart or shutdown.",
        minimum=1,
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


@dataclass(frozen=True)
class BackchannelSettings:
    """Back-channel logout (OpenID Connect Back-Channel Logout 1.0)."""

    timeout: int = setting(
        "IDP_BACKCHANNEL_TIMEOUT",
        2,
        "Delivery timeout",
        "Seconds to wait for a client's back-channel logout URI, per attempt.",
        minimum=1,
        maximum=60,
    )
    retries: int = setting(
        "IDP_BACKCHANNEL_RETRIES",
        2,
        "Delivery retries",
        "Further attempts after a network error, timeout or HTTP 5xx.",
        minimum=0,
        maximum=10,
    )
    backoff_ms: int = setting(
        "IDP_BACKCHANNEL_BACKOFF_MS",
        250,
        "Retry pause (ms)",
        "Pause before the first retry, doubling for each further one.",
        minimum=0,
    )
    workers: int = setting(
        "IDP_BACKCHANNEL_WORKERS",
        4,
        "Delivery threads",
        "Threads per process delivering logout tokens.",
        minimum=1,
        maximum=64,
    )
    logout_token_ttl: int = setting(
        "IDP_LOGOUT_TOKEN_TTL", 120, "Logout token lifetime", "Seconds.", minimum=1
    )
    allow_private: str = setting(
        "IDP_BACKCHANNEL_ALLOW_PRIVATE",
        "auto",
        "Private logout destinations",
        "Back-channel logout URIs on loopback, private or link-local addresses: auto allows "
        "them only under DEBUG/TESTING, false never, true for every client; otherwise only "
        "a client file with backchannel_logout_allow_private = true may use one.",
        choices=("auto", "true", "false", "1", "0", "yes", "no", "on", "off"),
    )


@dataclass(frozen=True)
class Sip2Settings:
    """The SIP2 responder (`idp sip2 serve`; README "SIP2 responder")."""

    terminals: str = setting(
        "IDP_SIP2_TERMINALS",
        str(PROJECT_ROOT / "terminals" / "sip2.toml"),
        "Terminals file",
        "Each terminal's login, password source, language and what it may see.",
        shown="terminals/sip2.toml",
    )
    host: str = setting(
        "IDP_SIP2_HOST", "127.0.0.1", "Listen host", "Where `idp sip2 serve` listens (--host)."
    )
    port: int = setting(
        "IDP_SIP2_PORT", 6001, "Listen port", "TCP port (--port).", minimum=0, maximum=65535
    )
    max_connections: int = setting(
        "IDP_SIP2_MAX_CONNECTIONS",
        64,
        "Connections",
        "Simultaneous connections; further ones are closed at once.",
        minimum=1,
    )
    max_connections_per_address: int = setting(
        "IDP_SIP2_MAX_CONNECTIONS_PER_ADDRESS",
        8,
        "Connections per address",
        "Simultaneous connections from one address; further ones are closed at once.",
        minimum=1,
    )
    login_timeout: float = setting(
        "IDP_SIP2_LOGIN_TIMEOUT",
        10.0,
        "Login timeout",
        "Seconds a new connection has to log in; ACS Status (99) does not extend it.",
        minimum=0.01,
    )
    idle_timeout: float = setting(
        "IDP_SIP2_IDLE_TIMEOUT",
        60.0,
        "Idle timeout",
        "Seconds without a complete message before a connection is closed.",
        minimum=0.01,
    )
    max_message: int = setting(
        "IDP_SIP2_MAX_MESSAGE",
        4096,
        "Longest message",
        "Bytes; a longer message closes the connection.",
        minimum=64,
    )
    tls_cert: str = setting(
        "IDP_SIP2_TLS_CERT",
        "",
        "TLS certificate",
        "PEM certificate chain; with IDP_SIP2_TLS_KEY the responder speaks TLS (1.2 or later).",
    )
    tls_key: str = setting("IDP_SIP2_TLS_KEY", "", "TLS key", "PEM private key.")
    institution_id: str = setting(
        "IDP_SIP2_INSTITUTION_ID",
        "",
        "Institution id",
        "AO answered when neither the request nor the terminal gives one.",
    )
    encoding: str = setting(
        "IDP_SIP2_ENCODING",
        "utf-8",
        "Encoding",
        "Text encoding agreed with the terminals.",
        check=checks.text_encoding,
    )
    expiry_field: str = setting(
        "IDP_SIP2_EXPIRY_FIELD",
        "",
        "Expiry field",
        "Extension field for the card expiry in Patron Information (e.g. PA); empty: not sent.",
        check=checks.extension_field,
    )


@dataclass(frozen=True)
class SamlSettings:
    """The SAML 2.0 IdP (README "SAML service providers")."""

    scope: str = setting(
        "IDP_SAML_SCOPE",
        "",
        "Scope",
        "Scope of pairwise-id and eduPersonScopedAffiliation (empty: the host name of IDP_ISSUER).",
    )
    affiliations: tuple[str, ...] = setting(
        "IDP_SAML_AFFILIATIONS",
        ("member", "library-walk-in"),
        "Affiliations",
        "eduPersonScopedAffiliation values (comma-separated, scoped automatically; empty: none).",
    )
    assertion_lifetime: int = setting(
        "IDP_SAML_ASSERTION_LIFETIME",
        300,
        "Assertion lifetime",
        "Seconds an assertion is valid (rounded down to whole minutes).",
        minimum=60,
        maximum=3600,
    )
    request_max_age: int = setting(
        "IDP_SAML_REQUEST_MAX_AGE",
        300,
        "Request age",
        "Seconds an AuthnRequest's IssueInstant may be old; its ID is remembered this long.",
        minimum=1,
        maximum=3600,
    )
    metadata_valid_hours: int = setting(
        "IDP_SAML_METADATA_VALID_HOURS",
        168,
        "Metadata validity",
        "Hours of validUntil in /saml/metadata.",
        minimum=1,
    )


@dataclass(frozen=True)
class EzproxySettings:
    """The EZproxy external-script check (POST /ezproxy/check; README "EZproxy")."""

    secret: str = setting(
        "IDP_EZPROXY_SECRET",
        "",
        "Shared secret",
        "Sent by EZproxy (URL parameter secret or header X-EZproxy-Secret), at least 32 "
        "characters; empty: /ezproxy/check is off (404).",
        check=checks.secret_or_empty,
    )
    networks: tuple[Network, ...] = setting(
        "IDP_EZPROXY_NETWORKS",
        LOCALHOST,
        "EZproxy networks",
        "Addresses or CIDR networks of the EZproxy server(s); any other caller gets 403.",
    )
    checks_per_minute: int = setting(
        "IDP_EZPROXY_CHECKS_PER_MINUTE",
        600,
        "Checks per minute",
        "The EZproxy server's own allowance, counted instead of its address's limit.",
        minimum=1,
        maximum=6000,
    )
    failures_per_day: int = setting(
        "IDP_EZPROXY_FAILURES_PER_DAY",
        2000,
        "Failures per day",
        "Failed checks per UTC day from the EZproxy server.",
        minimum=1,
        maximum=10000,
    )
