"""The service itself: where it answers, as what library, on which stores, with what
server, logs, metrics, mail and purge."""

from __future__ import annotations

from dataclasses import dataclass

from idp.settings import checks
from idp.settings.fields import setting
from idp.settings.sections.base import LOCALHOST
from idp.settings.sections.base import PROJECT_ROOT
from idp.settings.sections.base import Network


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
    sqlite_wal_autocheckpoint: int = setting(
        "IDP_SQLITE_WAL_AUTOCHECKPOINT",
        10000,
        "SQLite checkpoint interval",
        "SQLite: WAL pages (4 KiB) written before a commit copies them into the database "
        "file. SQLite's own default, 1000, copies the same hot index pages back ten times "
        "as often: token requests cost ~10 % more CPU.",
        minimum=100,
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
    worker_connections: int = setting(
        "IDP_WORKER_CONNECTIONS",
        0,
        "Connections per worker",
        "granian: most connections a worker serves at once (0: granian's own limit, 1024 / "
        "workers). Workers share one listening socket, and one worker can accept every "
        "connection of a burst while the others idle: behind a proxy that keeps N "
        "connections open, ⌈N / workers⌉ + 2 spreads them over the workers. A connection "
        "over every worker's limit waits in the listen backlog until one closes (an idle "
        "one after 30 s): keep 0 when browsers connect directly.",
        minimum=0,
        maximum=65536,
    )
    graceful_timeout: int = setting(
        "IDP_GRACEFUL_TIMEOUT",
        30,
        "Graceful timeout",
        "Seconds a worker gets to finish its requests on restart or shutdown.",
        minimum=1,
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
