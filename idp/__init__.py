"""Library IdP: OpenID Connect provider for a city public library."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import config as idp_config

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.integrations.flask_oauth2 import ResourceProtector

    from idp.services.container import IdpServices
    from idp.services.keys import KeyStore
    from idp.settings import Settings
    from idp.settings.sections import DatabaseSettings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: configuration, extensions, services and blueprints.

    :param test_config: ``IDP_*`` settings that override defaults and the environment
        (checked like them), and Flask options (``TESTING``, …).
    :raises idp.settings.ConfigError: when the configuration is unsafe or invalid.
    """
    import os

    import idp.models  # noqa: F401 - registers every table with the metadata
    from idp.cli import register_commands
    from idp.extensions import babel
    from idp.extensions import csrf
    from idp.extensions import init_migrations
    from idp.i18n import init_app as init_i18n
    from idp.i18n import select_locale
    from idp.json_provider import BoundedJSONProvider
    from idp.logs import init_app as init_logs
    from idp.metrics import init_app as init_metrics
    from idp.oauth.server import configure_oauth
    from idp.services.keys import KeyStore
    from idp.settings import check_production
    from idp.settings import load_settings
    from idp.views import register_blueprints
    from idp.views.support.pending import pending_ui_locales
    from idp.views.support.sessions import ServerSessionInterface
    from idp.views.support.unavailable import IdpFlask
    from idp.views.support.unavailable import init_app as init_unavailable

    app = IdpFlask(__name__)
    app.json = BoundedJSONProvider(app)
    flask_keys = {k: v for k, v in (test_config or {}).items() if not k.startswith("IDP_")}
    overrides = {k: v for k, v in (test_config or {}).items() if k.startswith("IDP_")}
    settings = load_settings(os.environ, overrides)
    settings, secret = _configure_flask(app, settings, flask_keys)
    if not (app.config.get("TESTING") or app.config.get("DEBUG")):
        check_production(settings, secret)

    if settings.site.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    _init_database(app, settings)
    init_migrations(app, str(Path(__file__).parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=partial(select_locale, pending_ui_locales))
    init_i18n(app)
    app.session_interface = ServerSessionInterface()

    keys = KeyStore(Path(settings.site.keys_dir))
    keys.ensure()
    server, protector = configure_oauth(app, settings)
    app.extensions["idp"] = build_services(app, settings, keys, server, protector)
    init_logs(app)
    _warn_missing_translations(app)
    init_metrics(app)
    register_blueprints(app)
    init_unavailable(app)
    register_commands(app)
    return app


def _configure_flask(
    app: Flask, settings: Settings, flask_keys: Mapping[str, Any]
) -> tuple[Settings, str]:
    """Flask's own configuration from the settings; the settings with their database URL
    filled in (SQLite under the instance folder by default), and the secret key."""
    instance_dir = Path(settings.site.instance_dir)
    if not settings.database.url:
        instance_dir.mkdir(parents=True, exist_ok=True)
        settings = settings.with_values(
            {"IDP_DATABASE_URL": f"sqlite:///{instance_dir / 'idp.sqlite3'}"}
        )
    app.config.update(flask_keys)
    secret = settings.site.secret_key or idp_config.ensure_secret_key(instance_dir)
    app.config.update(
        SECRET_KEY=secret,
        SQLALCHEMY_DATABASE_URI=str(settings.database.url),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database),
        BABEL_DEFAULT_LOCALE="ja",
        BABEL_DEFAULT_TIMEZONE=settings.site.timezone,
        WTF_CSRF_TIME_LIMIT=None,
        # Our pages send ``Referrer-Policy: no-referrer`` (RFC 9700 §4.2.4), so browsers
        # post forms without a Referer (and with ``Origin: null``); Flask-WTF's https
        # Referer check would refuse every login behind TLS. The session-bound CSRF
        # token and the SameSite=Lax cookie protect the forms.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    return settings, secret


def _init_database(app: Flask, settings: Settings) -> None:
    """Bind SQLAlchemy; hide bound values in errors; SQLite's pragmas and writer queue."""
    from idp.db_errors import hide_error_details
    from idp.extensions import db

    database_url = str(settings.database.url)
    db.init_app(app)
    with app.app_context():
        hide_error_details(db.engine)
        if database_url.startswith("sqlite"):
            event.listen(db.engine, "connect", _sqlite_pragmas)
            database = db.engine.url.database
            if database and database != ":memory:":
                from idp.sqlite_writes import install as queue_sqlite_writers

                queue_sqlite_writers(
                    db.engine,
                    database,
                    settings.database.sqlite_synchronous,
                    settings.database.sqlite_wal_autocheckpoint,
                )


def build_services(
    app: Flask,
    settings: Settings,
    keys: KeyStore,
    server: AuthorizationServer,
    protector: ResourceProtector,
) -> IdpServices:
    """Every service of the application, built once (nothing is made on first use)."""
    from idp.redis_client import build_shared_redis
    from idp.services.backchannel import BackchannelNotifier
    from idp.services.cards.service import build_card_service
    from idp.services.client_registry import ClientRegistry
    from idp.services.container import IdpServices
    from idp.services.ezproxy import from_settings as ezproxy_settings
    from idp.services.mail import BackgroundMailer
    from idp.services.mail import create_mailer
    from idp.services.passwords import Argon2Settings
    from idp.services.passwords import Passwords
    from idp.services.signin.limiter import build_limiter

    app_secret = str(app.config["SECRET_KEY"])
    redis = build_shared_redis(settings.redis)
    mailer = create_mailer(settings.mail.smtp_url, Path(settings.site.instance_dir) / "outbox")
    return IdpServices(
        config=app.config,
        settings=settings,
        passwords=Passwords(
            Argon2Settings(
                time_cost=settings.accounts.argon2_time_cost,
                memory_cost=settings.accounts.argon2_memory_cost,
                parallelism=settings.accounts.argon2_parallelism,
            )
        ),
        keys=keys,
        authorization=server,
        require_oauth=protector,
        redis=redis,
        limiter=build_limiter(settings, app_secret, redis),
        cards=build_card_service(settings.cards, app_secret, redis),
        client_registry=ClientRegistry(),
        mailer=mailer,
        background_mailer=BackgroundMailer(mailer),
        backchannel=BackchannelNotifier(app, settings.backchannel),
        ezproxy=ezproxy_settings(settings),
    )


def _warn_missing_translations(app: Flask) -> None:
    """Say so when a language has no compiled catalogue (its pages would be English)."""
    import logging

    folder = Path(__file__).parent / "translations"
    for code in app.extensions["idp"].settings.site.languages:
        if code != "en" and not (folder / code / "LC_MESSAGES" / "messages.mo").is_file():
            logging.getLogger("idp").warning(
                "no compiled translations for %r: pages show English text. Install from a "
                "wheel, or run `make translations` (pybabel compile -d idp/translations).",
                code,
            )


def engine_options(database: DatabaseSettings) -> dict[str, Any]:
    """SQLAlchemy engine options for ``IDP_DATABASE_URL`` (pool per worker process).

    ``hide_parameters``: a database error's message and log line never carry the bound
    values (card numbers, password hashes, token hashes), only the statement.
    """
    url = str(database.url)
    if url.startswith("sqlite"):
        # One file, many threads: wait for the write lock instead of failing at once (the
        # busy timeout, then 503); WAL is switched on at connect (_sqlite_pragmas), and
        # writers queue on a file lock before that (idp/sqlite_writes.py).
        options: dict[str, Any] = {
            "hide_parameters": True,
            "connect_args": {"timeout": database.sqlite_busy_timeout, "check_same_thread": False},
        }
        if ":memory:" not in url:
            # A file: pooled like a server database, sized the same way (every password
            # check briefly holds a second connection for its counters).
            options.update(pool_size=database.pool_size)
            options.update(max_overflow=database.max_overflow)
            options.update(pool_timeout=database.pool_timeout)
        return options
    # No pre-ping: it costs a round trip on every checkout, i.e. on every request.
    # Connections are replaced after IDP_DB_POOL_RECYCLE seconds; a connection found dead
    # makes SQLAlchemy invalidate every connection of the pool opened before it, and the
    # request is retried or answered 503 (idp/db_errors.py).
    return {
        "hide_parameters": True,
        "pool_size": database.pool_size,
        "max_overflow": database.max_overflow,
        "pool_timeout": database.pool_timeout,
        "pool_recycle": database.pool_recycle,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL: readers do not wait for the writer, and the writer not for readers."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()
