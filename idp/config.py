"""Configuration: documented defaults, ``IDP_*`` environment variables, start-up checks.

Every option lives in :data:`DEFAULTS` with a comment saying what it does. The README's
configuration table is written from this file. Values are layered: defaults, then the
environment, then the mapping passed to :func:`idp.create_app` (tests use it).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _project_root() -> Path:
    """The checkout that holds ``idp/``; for an installed package, the current folder."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout
    # Installed from a wheel: idp/ sits in site-packages, which is no place for data.
    return Path.cwd()


#: Where relative defaults (``instance/``, ``keys/``, ``clients/``) are resolved: the
#: checkout, or the current folder when the package is installed from a wheel.
PROJECT_ROOT = _project_root()

DEFAULTS: dict[str, Any] = {
    # Issuer identifier: the public base URL of this provider, without a trailing slash.
    # Must be https:// in production (only localhost may use http://).
    "IDP_ISSUER": "http://127.0.0.1:5000",
    # SQLAlchemy URL. Default: a SQLite file under the instance folder.
    # PostgreSQL: postgresql+psycopg://user:pass@host/dbname
    "IDP_DATABASE_URL": None,
    # Secret for cookies, signed links and derived keys. Generated into
    # ``instance/secret_key`` on first start when unset. At least 32 characters.
    "IDP_SECRET_KEY": None,
    # Folder with the private signing keys (JWK files) and their state file.
    "IDP_KEYS_DIR": str(PROJECT_ROOT / "keys"),
    # Folder with the client registration files (``*.toml``) for ``idp clients sync``.
    "IDP_CLIENTS_DIR": str(PROJECT_ROOT / "clients"),
    # Instance folder (database, secret, mail outbox). Default: ``instance/`` beside ``idp/``.
    "IDP_INSTANCE_DIR": str(PROJECT_ROOT / "instance"),
    # Redis URL (rate limits, replay caches shared by all nodes). Optional.
    "IDP_REDIS_URL": None,
    # Library name shown on pages and on the printed notice.
    "IDP_LIBRARY_NAME": "市立中央図書館",
    # English library name, shown when the page is in English.
    "IDP_LIBRARY_NAME_EN": "City Central Library",
    # Name of the patron portal (the seed's "Myライブラリ"): the pages' header and titles,
    # the refusal message, the mails and the printed notice use it.
    "IDP_PORTAL_NAME": "Myライブラリ",
    # The portal's name on English pages.
    "IDP_PORTAL_NAME_EN": "MyLibrary",
    # The library's own web site, linked from the start page and the help page ("": none).
    "IDP_LIBRARY_URL": "",
    # How to reach the library (address, phone, opening hours; one item per line, "\n"
    # in the environment): the start and help pages and the signature of every mail.
    "IDP_LIBRARY_CONTACT": "",
    # The same contact text on English pages and mails ("": the Japanese text).
    "IDP_LIBRARY_CONTACT_EN": "",
    # Display name in the From header of mails ("": the library's name).
    "IDP_MAIL_FROM_NAME": "",
    # Time zone of the library: a card is valid until the end of its expiry day there.
    "IDP_TIMEZONE": "Asia/Tokyo",
    # Regular expression a (normalised) card number must match in full.
    "IDP_CARD_NUMBER_PATTERN": r"\d{10}",
    # Check digit the last digit of a card number must satisfy (idp/services/card_numbers.py):
    # "none", "M10W21" (modulus 10 weights 2-1, Luhn) or "M11" (modulus 11, weights 2-7).
    # Checked, with the pattern, at issue, import, login, the credential-check API, SIP2
    # and card verification.
    "IDP_CARD_CHECK_DIGIT": "none",
    # Length of generated temporary passwords (digits).
    "IDP_TEMPORARY_PASSWORD_LENGTH": 8,
    # Days a temporary password stays usable (printed on the notice; OWASP ASVS: temporary
    # credentials expire). After that only a counter reset helps. 0: never expires.
    "IDP_TEMPORARY_PASSWORD_DAYS": 30,
    # Where patrons manage their account (MyLibrary), printed on the notice.
    # Empty: this provider's own account page, ``IDP_ISSUER`` + ``/account``.
    "IDP_MYLIBRARY_URL": "",
    # Argon2id cost. The defaults are OWASP's minimum for Argon2id (19 MiB, t=2, p=1).
    "IDP_ARGON2_TIME_COST": 2,
    "IDP_ARGON2_MEMORY_COST": 19456,
    "IDP_ARGON2_PARALLELISM": 1,
    # Lifetime of authorization codes, in seconds (at most 60).
    "IDP_CODE_TTL": 60,
    # Lifetime of access tokens and ID tokens, in seconds.
    "IDP_ACCESS_TOKEN_TTL": 900,
    "IDP_ID_TOKEN_TTL": 900,
    # Lifetime of a refresh token (issued only under ``offline_access``), in seconds.
    "IDP_REFRESH_TOKEN_TTL": 30 * 24 * 3600,
    # Seconds after a rotation during which the previous refresh token is accepted once
    # more, if the new one was never used (a response lost on the way back, then a
    # retry); 0: never. Outside it, or a second time, reuse revokes the whole family.
    "IDP_REFRESH_REUSE_GRACE": 5,
    # Answer the common successful /token, /userinfo and /introspect requests before
    # Flask (idp/views/fast.py; same rules, same functions); 0: always through Flask.
    "IDP_FAST_PATH": True,
    # SQLite (the embedded default): ``normal`` — no fsync per commit in WAL mode; a
    # commit survives a crash of the process, the last few may roll back (whole) on a
    # power loss — or ``full`` (fsync each commit, several times slower writes).
    "IDP_SQLITE_SYNCHRONOUS": "normal",
    # Login sessions: absolute lifetime and idle timeout, in seconds.
    "IDP_SESSION_LIFETIME": 12 * 3600,
    "IDP_SESSION_IDLE_TIMEOUT": 2 * 3600,
    # Server-side records of anonymous visitors (a pending authorization request) kept per
    # client address; a new one beyond this drops that address's oldest. 0: no cap.
    # Anonymous visitors without such a request get no record at all (a signed cookie).
    "IDP_SESSION_ANONYMOUS_PER_ADDRESS": 200,
    # Name of the login-session cookie.
    "IDP_SESSION_COOKIE": "idp_session",
    # Staff console under /staff (README "Staff console"): its own session cookie, scoped
    # to /staff, with a short idle timeout and an absolute lifetime (seconds).
    "IDP_STAFF_SESSION_COOKIE": "idp_staff",
    "IDP_STAFF_SESSION_IDLE_TIMEOUT": 15 * 60,
    "IDP_STAFF_SESSION_LIFETIME": 10 * 3600,
    # Hours an enrolment link printed by `idp staff add` / `reset` stays usable (once).
    "IDP_STAFF_ENROLMENT_HOURS": 24,
    # Addresses or networks (CIDR, comma-separated) that may open /staff; empty: any.
    "IDP_STAFF_NETWORKS": "",
    # Staff sign-in: consecutive wrong passwords, or wrong second-factor answers, that
    # lock the account until `idp staff enable` (the delays before are the per-card ones).
    "IDP_STAFF_LOCK_AFTER": 10,
    # Trust ``X-Forwarded-Proto``/``-For``/``-Host`` from one reverse proxy (0 or 1).
    "IDP_TRUST_PROXY": False,
    # Languages of the hosted pages; the first is the default.
    "IDP_LANGUAGES": "ja,en",
    # Throttling and lockout against password guessing (SPEC §7; numbers and the guessing
    # rate they allow: docs/security.md). A limit of 0 switches that limit off.
    # Per card: this many consecutive failures are free; then each attempt must wait
    # IDP_THROTTLE_CARD_DELAY seconds after the last failure, doubling with every further
    # failure, at most IDP_THROTTLE_CARD_MAX_DELAY.
    "IDP_THROTTLE_CARD_FREE_FAILURES": 5,
    "IDP_THROTTLE_CARD_DELAY": 60,
    "IDP_THROTTLE_CARD_MAX_DELAY": 3600,
    # Consecutive failures that lock a card until staff unlock it (`idp patrons unlock`)
    # or the patron re-issues the password by mail. NIST SP 800-63B allows at most 100.
    "IDP_THROTTLE_CARD_LOCK_AFTER": 20,
    # Seconds after its last failure when a card's delay counter is forgotten (a known
    # card's count toward the lock stays in the patron row until a correct login).
    "IDP_THROTTLE_CARD_FORGET": 30 * 24 * 3600,
    # Password checks per minute from one client address, and from one network (/24 for
    # IPv4, /64 for IPv6): one source cannot spray many cards.
    "IDP_THROTTLE_IP_PER_MINUTE": 10,
    "IDP_THROTTLE_NET_PER_MINUTE": 30,
    # Failed sign-ins per day (UTC) from one client address, and from one network.
    "IDP_THROTTLE_IP_FAILURES_PER_DAY": 100,
    "IDP_THROTTLE_NET_FAILURES_PER_DAY": 300,
    # Password re-issue form (/password/reissue): requests per minute and per hour from
    # one address, and mails per hour for one card whoever asks (nobody floods a
    # patron's mailbox).
    "IDP_REISSUE_IP_PER_MINUTE": 5,
    "IDP_REISSUE_IP_PER_HOUR": 20,
    "IDP_REISSUE_CARD_PER_HOUR": 3,
    # Device Authorization Grant (RFC 8628, ``/device``): lifetime of a device code and
    # its user code, the polling interval the device is told, user-code entries per minute
    # and wrong user codes per hour from one address, and how often one device's user code
    # may be entered (a code read off a screen by several people is refused after that).
    "IDP_DEVICE_CODE_TTL": 600,
    "IDP_DEVICE_POLL_INTERVAL": 5,
    "IDP_DEVICE_IP_PER_MINUTE": 10,
    "IDP_DEVICE_IP_FAILURES_PER_HOUR": 20,
    "IDP_DEVICE_CODE_ENTRIES": 5,
    # Passkeys: a patron adds one within this many seconds of signing in with the password.
    "IDP_PASSKEY_FRESH_LOGIN": 600,
    # Seconds an e-mail address must have been confirmed before a re-issue link is sent
    # to it (an address changed through a stolen session cannot receive one at once).
    "IDP_REISSUE_EMAIL_MIN_AGE": 24 * 3600,
    # Prefix of the throttle keys in Redis (several installations may share one Redis).
    "IDP_THROTTLE_REDIS_PREFIX": "idp:throttle:",
    # Redis client shared by everything in a process (idp/redis_client.py): milliseconds to
    # wait for Redis (connect and read) before using the fallback (the database for the
    # throttle counters, this process's memory for request limits).
    "IDP_REDIS_TIMEOUT_MS": 250,
    # Seconds an idle pooled Redis connection may wait before it is checked with PING.
    "IDP_REDIS_HEALTH_CHECK_INTERVAL": 30,
    # After Redis failed, seconds during which every caller uses its fallback at once
    # (one warning per interval) before Redis is tried again.
    "IDP_REDIS_RETRY_SECONDS": 30,
    # Database connection pool of each worker process (PostgreSQL; SQLite has none):
    # connections kept open, extra ones allowed under load, seconds to wait for a free
    # one, and seconds after which a connection is replaced. Connections are not
    # checked before use (a round trip per request): a dead one is noticed when used,
    # and then every connection the pool opened before it is replaced.
    # Total connections = nodes × workers × (pool size + overflow): keep it under the
    # server's max_connections. Each password check briefly holds a second connection
    # (its counters commit on their own), so keep pool size + overflow above IDP_THREADS.
    "IDP_DB_POOL_SIZE": 5,
    "IDP_DB_MAX_OVERFLOW": 5,
    "IDP_DB_POOL_TIMEOUT": 10,
    "IDP_DB_POOL_RECYCLE": 1800,
    # SQLite only: seconds a request waits for the database's write lock before it is
    # answered 503 (idp/views/support/unavailable.py).
    "IDP_SQLITE_BUSY_TIMEOUT": 30,
    # Purge of expired data (``idp purge``, README "Purging expired data"): seconds between
    # two runs inside the server (``idp serve``); one node of many runs it each time,
    # whichever takes the lease first. 0: only the ``idp purge`` command purges.
    "IDP_PURGE_INTERVAL": 900,
    # Rows deleted per transaction (short transactions, short locks).
    "IDP_PURGE_BATCH": 500,
    # Days an audit event is kept; older events are purged. 0: kept forever.
    "IDP_AUDIT_RETENTION_DAYS": 400,
    # Seconds sent in ``Retry-After`` when the database is unavailable (answer 503).
    "IDP_RETRY_AFTER": 5,
    # Log lines: ``text`` (readable, the default for development) or ``json`` (one object
    # per line; the gunicorn configuration uses it unless told otherwise). Every request
    # writes one access line with its request id (idp/logs.py).
    "IDP_LOG_FORMAT": "text",
    # Lowest level written: DEBUG, INFO, WARNING, ERROR.
    "IDP_LOG_LEVEL": "INFO",
    # Prometheus metrics at /metrics (idp/metrics.py): off unless set to 1.
    "IDP_METRICS": False,
    # Who may read /metrics: comma-separated addresses or networks (CIDR) ...
    "IDP_METRICS_NETWORKS": "127.0.0.1/32,::1/128",
    # ... or anyone sending ``Authorization: Bearer`` with this secret (unset: nobody).
    "IDP_METRICS_TOKEN": None,
    # ``idp serve``: granian (default) or gunicorn (``IDP_SERVER``); idp/granian_conf.py
    # and idp/gunicorn_conf.py read these from the environment:
    # address to listen on, worker processes (0: 2 × cores + 1), and seconds a worker gets
    # to finish its requests on restart or shutdown (``idp serve``, README "Production").
    "IDP_SERVER": "granian",
    "IDP_BIND": "127.0.0.1:8000",
    "IDP_WORKERS": 0,
    # Threads per worker; more than 1 uses threaded workers (they keep connections alive).
    "IDP_THREADS": 1,
    "IDP_GRACEFUL_TIMEOUT": 30,
    # Library card barcode (SPEC §5; README "Library card barcode").
    # Seconds each card code is shown for (RFC 6238 time step X). The desk also accepts
    # the code of the step before, so a screenshot stops working after two steps.
    "IDP_CARD_CODE_STEP": 30,
    # Earlier time steps the desk still accepts (clock skew between phone and desk).
    "IDP_CARD_CODE_SKEW_STEPS": 1,
    # Secret the per-card code keys are derived from (HKDF). Empty: derived from
    # IDP_SECRET_KEY. Changing it invalidates every code on screen at once.
    "IDP_CARD_CODE_SECRET": "",
    # Symbology of the card page's barcode: "nw7" (NW-7/Codabar, what Japanese library
    # scanners read) or "code128".
    "IDP_CARD_SYMBOLOGY": "nw7",
    # The card page needs a login at most this many seconds old; older sessions log in
    # again first (the code is a credential at the desk).
    "IDP_CARD_RECENT_LOGIN": 12 * 3600,
    # Prefix of the used-code keys in Redis (replay memory shared by every node).
    "IDP_CARD_REPLAY_REDIS_PREFIX": "idp:card-replay:",
    # Desk verification API limits: calls per minute per client and per source address,
    # and refused codes per UTC day per client (a desk guessing codes stops quickly).
    "IDP_CARD_VERIFY_CLIENT_PER_MINUTE": 300,
    "IDP_CARD_VERIFY_IP_PER_MINUTE": 120,
    "IDP_CARD_VERIFY_FAILURES_PER_DAY": 1000,
    # Back-channel logout (OpenID Connect Back-Channel Logout 1.0): seconds to wait for a
    # client's back-channel URI per attempt; deliveries run in the background, so the
    # patron's logout does not wait for them.
    "IDP_BACKCHANNEL_TIMEOUT": 2,
    # Further attempts after a failed delivery (network error, timeout, HTTP 5xx); a
    # client's 4xx answer is final.
    "IDP_BACKCHANNEL_RETRIES": 2,
    # Pause before the first retry, in milliseconds; doubles for each further one.
    "IDP_BACKCHANNEL_BACKOFF_MS": 250,
    # Threads delivering logout tokens (per process).
    "IDP_BACKCHANNEL_WORKERS": 4,
    # Lifetime of a logout token, in seconds (clients refuse older ones).
    "IDP_LOGOUT_TOKEN_TTL": 120,
    # Back-channel logout URIs on loopback, private or link-local addresses (a request
    # from this server into its own network): "auto" allows them only in development and
    # tests (DEBUG/TESTING), "false" never, "true" for every client. Otherwise only a
    # client file with ``backchannel_logout_allow_private = true`` may use one. Checked at
    # registration and again, on the address connected to, at every delivery.
    "IDP_BACKCHANNEL_ALLOW_PRIVATE": "auto",
    # SIP2 responder (``idp sip2 serve``, README "SIP2 responder").
    # The terminals file (TOML): each terminal's login, password source, language and
    # what it may see (sample: terminals/sip2.toml).
    "IDP_SIP2_TERMINALS": str(PROJECT_ROOT / "terminals" / "sip2.toml"),
    # Address and TCP port ``idp sip2 serve`` listens on (``--host``/``--port`` override).
    "IDP_SIP2_HOST": "127.0.0.1",
    "IDP_SIP2_PORT": 6001,
    # Simultaneous terminal connections; further ones are closed at once.
    "IDP_SIP2_MAX_CONNECTIONS": 64,
    # Simultaneous connections from one address (one source cannot take every slot).
    "IDP_SIP2_MAX_CONNECTIONS_PER_ADDRESS": 8,
    # Seconds a new connection has to log in (93, or a request with its password in AC);
    # ACS Status (99) before the login does not extend it. Connections from an address
    # outside every terminal's ``networks`` are closed as soon as they are accepted.
    "IDP_SIP2_LOGIN_TIMEOUT": 10,
    # Seconds without a complete message before a connection is closed.
    "IDP_SIP2_IDLE_TIMEOUT": 60,
    # Longest SIP2 message accepted, in bytes; a longer one closes the connection.
    "IDP_SIP2_MAX_MESSAGE": 4096,
    # TLS certificate chain and private key (PEM files); both set: the responder speaks TLS.
    "IDP_SIP2_TLS_CERT": "",
    "IDP_SIP2_TLS_KEY": "",
    # Institution id (AO) answered when neither the request nor the terminal gives one.
    "IDP_SIP2_INSTITUTION_ID": "",
    # Text encoding agreed with the terminals (utf-8 carries Japanese screen messages).
    "IDP_SIP2_ENCODING": "utf-8",
    # Two-letter extension field carrying the card expiry date in Patron Information
    # responses (e.g. "PA"); empty: not sent, as SIP2 2.00 defines no such field.
    "IDP_SIP2_EXPIRY_FIELD": "",
    # SAML 2.0 IdP (README "SAML service providers"). Scope of pairwise-id and
    # eduPersonScopedAffiliation ("": the issuer's host name).
    "IDP_SAML_SCOPE": "",
    # eduPersonScopedAffiliation values released (comma-separated; "": none).
    "IDP_SAML_AFFILIATIONS": "member,library-walk-in",
    # Seconds an assertion is valid (NotOnOrAfter), rounded down to whole minutes.
    "IDP_SAML_ASSERTION_LIFETIME": 300,
    # Seconds an AuthnRequest may be old (IssueInstant); its ID is remembered this long.
    "IDP_SAML_REQUEST_MAX_AGE": 300,
    # Hours the signed metadata is valid (validUntil).
    "IDP_SAML_METADATA_VALID_HOURS": 168,
    # EZproxy external-script check (POST /ezproxy/check; README "EZproxy"). The shared
    # secret EZproxy sends (URL parameter ``secret`` or header ``X-EZproxy-Secret``), at
    # least 32 characters; "" switches the endpoint off (404).
    "IDP_EZPROXY_SECRET": "",
    # Addresses or CIDR networks of the EZproxy server(s); other callers get 403.
    "IDP_EZPROXY_NETWORKS": "127.0.0.1/32,::1/128",
    # The EZproxy server's own allowance, counted instead of its address's limits (it
    # sends every patron's check); the per-card delays and lock still apply.
    "IDP_EZPROXY_CHECKS_PER_MINUTE": 600,
    "IDP_EZPROXY_FAILURES_PER_DAY": 2000,
}

#: Known development secrets that must never reach production.
_WEAK_SECRETS = {"dev", "secret", "changeme", "change-me", "test", "development"}


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read every known ``IDP_*`` option present in ``environ``.

    :param environ: usually :data:`os.environ`.
    :return: the options found, converted to the type of their default.
    :raises ConfigError: when a number is not a number.
    """
    found: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        if key in environ:
            try:
                found[key] = _coerce(default, environ[key])
            except ValueError as exc:
                raise ConfigError(f"{key} must be a whole number") from exc
    for key in ("IDP_SMTP_URL", "IDP_MAIL_FROM"):
        if key in environ:
            found[key] = environ[key]
    return found


def ensure_secret_key(instance_dir: Path) -> str:
    """Return the secret kept in ``instance/secret_key``, creating it when missing.

    The file is created with mode 0600 and exclusively, so that several workers starting
    together agree on one secret.
    """
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def is_local_host(url: str) -> bool:
    """True when ``url`` points at this machine (http:// is tolerated there)."""
    host = urlsplit(url).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"}


def validate(config: Mapping[str, Any]) -> None:
    """Refuse settings that are unsafe outside development.

    :raises ConfigError: with the setting's name and what to do about it.
    """
    issuer = str(config["IDP_ISSUER"])
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError("IDP_ISSUER must be an absolute http(s) URL")
    if parts.query or parts.fragment or issuer.endswith("/"):
        raise ConfigError("IDP_ISSUER must have no query, fragment or trailing slash")
    if str(config.get("IDP_LOG_FORMAT", "text")) not in {"json", "text"}:
        raise ConfigError("IDP_LOG_FORMAT must be json or text")
    if str(config.get("IDP_LOG_LEVEL", "INFO")).upper() not in {
        "DEBUG",
        "INFO",
        "WARNING",
        "ERROR",
        "CRITICAL",
    }:
        raise ConfigError("IDP_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    try:
        for part in str(config.get("IDP_METRICS_NETWORKS") or "").split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
    except ValueError as exc:
        raise ConfigError("IDP_METRICS_NETWORKS must list addresses or CIDR networks") from exc
    _validate_card_rules(config)
    _validate_card(config)
    allow_private = str(config.get("IDP_BACKCHANNEL_ALLOW_PRIVATE", "auto")).strip().lower()
    if allow_private not in {"auto", "true", "false", "1", "0", "yes", "no", "on", "off"}:
        raise ConfigError('IDP_BACKCHANNEL_ALLOW_PRIVATE must be "auto", "true" or "false"')
    if str(config.get("IDP_SQLITE_SYNCHRONOUS", "normal")).lower() not in {"normal", "full"}:
        raise ConfigError("IDP_SQLITE_SYNCHRONOUS must be normal or full")
    grace = config.get("IDP_REFRESH_REUSE_GRACE", DEFAULTS["IDP_REFRESH_REUSE_GRACE"])
    if not isinstance(grace, int) or not 0 <= grace <= 60:
        raise ConfigError("IDP_REFRESH_REUSE_GRACE must be between 0 and 60 seconds")
    relaxed = bool(config.get("TESTING") or config.get("DEBUG"))
    if relaxed:
        return
    if parts.scheme != "https" and not is_local_host(issuer):
        raise ConfigError("IDP_ISSUER must use https:// (http:// only for localhost)")
    secret = str(config.get("SECRET_KEY") or "")
    if len(secret) < 32 or secret.lower() in _WEAK_SECRETS:
        raise ConfigError("IDP_SECRET_KEY must be a random value of at least 32 characters")


#: Check-digit schemes ``IDP_CARD_CHECK_DIGIT`` may name (see idp/services/card_numbers.py).
CHECK_DIGIT_SCHEMES = ("none", "M10W21", "M11")


def _validate_card_rules(config: Mapping[str, Any]) -> None:
    scheme = config.get("IDP_CARD_CHECK_DIGIT", "none")
    if scheme not in CHECK_DIGIT_SCHEMES:
        raise ConfigError(
            f"IDP_CARD_CHECK_DIGIT must be one of {', '.join(CHECK_DIGIT_SCHEMES)}, not {scheme!r}"
        )
    try:
        re.compile(str(config.get("IDP_CARD_NUMBER_PATTERN", DEFAULTS["IDP_CARD_NUMBER_PATTERN"])))
    except re.error as exc:
        raise ConfigError(f"IDP_CARD_NUMBER_PATTERN is not a regular expression: {exc}") from exc


def _validate_card(config: Mapping[str, Any]) -> None:
    """Refuse card-barcode settings that would make unusable or guessable codes."""
    config = {**DEFAULTS, **config}
    if config["IDP_CARD_SYMBOLOGY"] not in {"nw7", "code128"}:
        raise ConfigError('IDP_CARD_SYMBOLOGY must be "nw7" or "code128"')
    step = config["IDP_CARD_CODE_STEP"]
    if not isinstance(step, int) or not 5 <= step <= 300:
        raise ConfigError("IDP_CARD_CODE_STEP must be between 5 and 300 seconds")
    skew = config["IDP_CARD_CODE_SKEW_STEPS"]
    if not isinstance(skew, int) or not 0 <= skew <= 4:
        raise ConfigError("IDP_CARD_CODE_SKEW_STEPS must be between 0 and 4")
    recent = config["IDP_CARD_RECENT_LOGIN"]
    if not isinstance(recent, int) or recent < 60:
        raise ConfigError("IDP_CARD_RECENT_LOGIN must be at least 60 seconds")
    secret = config["IDP_CARD_CODE_SECRET"] or ""
    if secret and len(str(secret)) < 32:
        raise ConfigError("IDP_CARD_CODE_SECRET must be at least 32 characters (or empty)")
