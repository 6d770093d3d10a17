"""Shared fixtures: an application per test on a migrated database, clients, patrons.

The database is SQLite by default (a migrated template copied per test). With
``IDP_TEST_DATABASE_URL`` set (``postgresql+psycopg://…``) the suite runs on a fresh
PostgreSQL database that it creates and drops itself, emptied after each test.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask import g
from flask.ctx import _cv_app  # type: ignore[attr-defined]
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text

from idp import create_app
from idp.extensions import db
from idp.services.container import container
from idp.services.keys import KeyStore

pytest_plugins = ["tests.support.fixtures"]

ISSUER = "http://localhost"
SECRET = "test-secret-key-that-is-long-enough-for-the-checks-0123"


class Clock:
    """A clock tests can move; starts at the real time."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def _base_config(tmp: Path, database_url: str, keys_dir: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "IDP_ISSUER": ISSUER,
        "IDP_SECRET_KEY": SECRET,
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(keys_dir),
        "IDP_INSTANCE_DIR": str(tmp),
        # Cheap Argon2 in tests; production defaults are OWASP's minimum.
        "IDP_ARGON2_TIME_COST": 1,
        "IDP_ARGON2_MEMORY_COST": 256,
        "IDP_ARGON2_PARALLELISM": 1,
    }


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dedicated test signing keys, generated once per run (never the real ones)."""
    folder = tmp_path_factory.mktemp("keys")
    KeyStore(folder).ensure()
    return folder


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[str]:
    """A database migrated to head once per run: a SQLite file or a PostgreSQL database."""
    from flask_migrate import upgrade

    tmp = tmp_path_factory.mktemp("db")
    admin_url = os.environ.get("IDP_TEST_DATABASE_URL")
    if admin_url:
        name = f"idp_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'template.sqlite3'}"
    app = create_app(_base_config(tmp, url, keys_dir))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url
    if admin_url:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    """This test's own database URL."""
    if database_template.startswith("sqlite:///"):
        copy = tmp_path / "idp.sqlite3"
        shutil.copyfile(database_template.removeprefix("sqlite:///"), copy)
        return f"sqlite:///{copy}"
    return database_template


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_config(tmp_path: Path, database_url: str, keys_dir: Path) -> dict[str, Any]:
    """Configuration for :func:`app`; a test may change it before using ``app``."""
    return _base_config(tmp_path, database_url, keys_dir)


class TemplateCodeCache(BytecodeCache):
    """Compiled templates kept for the whole run: every test makes a new application,
    whose Jinja environment would otherwise compile each template again."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = TemplateCodeCache()


@pytest.fixture
def app(app_config: dict[str, Any], clock: Clock) -> Iterator[Flask]:
    app = create_app(app_config)
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
    app.extensions["idp"].clock = clock

    @app.before_request
    def _fresh_g() -> None:
        # The test keeps one app context pushed for the whole test, so requests would
        # share ``g`` (Flask-WTF caches the CSRF token there); in production every
        # request has its own.
        for key in list(g):
            g.pop(key)

    @app.teardown_request
    def _fresh_objects(_error: BaseException | None) -> None:
        # For the same reason the requests share one ORM session: what a request loaded
        # would stay in it as loaded, and a later request or command would read that
        # instead of the row (the fast path writes a session's client list with Core
        # statements). In production every request's session is new; expired, the
        # objects are read again when next used.
        db.session.expire_all()

    with app.app_context():
        yield app
        empty_database()


RESTART_SEQUENCES = (
    "SELECT setval(c.oid, 1, false) FROM pg_class c"
    " WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
)


def empty_database() -> None:
    """End the test's database use: PostgreSQL is shared by the run, so empty it."""
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        # DELETE, children first, then the sequences back to 1: on these small tables
        # it takes under a millisecond where TRUNCATE took 100+ ms a test.
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(text(RESTART_SEQUENCES))
    db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def _no_leaked_app_context() -> Iterator[None]:
    """Fail a test that leaves an application context pushed (flask's leak detector)."""
    yield
    leaked = []
    while _cv_app.get(None) is not None:
        ctx = _cv_app.get()
        leaked.append(ctx)
        ctx.pop()
    assert not leaked, f"leaked app contexts: {leaked}"


@pytest.fixture
def now(app: Flask) -> dt.datetime:
    return container().now()


PORTAL_SECRET = "portal-secret-0123456789-abcdefghijklmnop"
VENDOR_SECRET = "vendor-secret-0123456789-abcdefghijklmnop"


@pytest.fixture
def portal(app: Flask) -> Any:
    """A first-party confidential client with policy ``change`` (like MyLibrary)."""
    from tests.support.factories import make_client

    return make_client("portal", secret=PORTAL_SECRET)


@pytest.fixture
def vendor(app: Flask) -> Any:
    """A third-party client with policy ``deny`` and pairwise subjects (like d-library)."""
    from tests.support.factories import make_client

    return make_client(
        "vendor",
        secret=VENDOR_SECRET,
        first_party=False,
        policy="deny",
        subject_type="pairwise",
        auth_method="client_secret_post",
        scopes=["openid", "library_card"],
        grant_types=["authorization_code"],
    )


@pytest.fixture
def rp(client: FlaskClient, portal: Any) -> Any:
    """The portal's relying-party helper, using the test browser."""
    from tests.support.oidc import RelyingParty

    return RelyingParty.for_client(client, portal, PORTAL_SECRET)


@pytest.fixture
def vendor_rp(client: FlaskClient, vendor: Any) -> Any:
    from tests.support.oidc import RelyingParty

    party = RelyingParty.for_client(client, vendor, VENDOR_SECRET)
    return party


@pytest.fixture
def patron(app: Flask) -> Any:
    """An active patron with a chosen password (``tests.support.factories.DEFAULT_PASSWORD``)."""
    from tests.support.factories import make_patron

    return make_patron("0300000001", name="図書館 太郎", email="taro@example.org")


#: The real Redis of the run (``IDP_TEST_REDIS_URL``, default the one on loopback).
TEST_REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards.

    Uses the real Redis on loopback (``IDP_TEST_REDIS_URL``, default 127.0.0.1:6379).
    """
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        if "IDP_TEST_REDIS_URL" in os.environ:
            raise
        pytest.skip("no Redis on 127.0.0.1:6379 (set IDP_TEST_REDIS_URL to require it)")
    prefix = f"idp-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
