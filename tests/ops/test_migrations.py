"""Migrations are the only source of the schema: they agree with the models, and they
upgrade a database that holds rows, on SQLite and on PostgreSQL.

Works for whatever the head is: every revision after the first is applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import MetaData
from sqlalchemy import Table
from sqlalchemy import insert
from sqlalchemy import select

from idp import create_app
from idp.extensions import db
from idp.models.client import Client
from idp.models.patron import Patron
from idp.models.token import Token
from idp.services.container import container
from tests.conftest import SECRET

MIGRATIONS = Path(__file__).resolve().parents[2] / "idp" / "migrations"
CLIENT_SECRET = "migrated-client-secret-0123456789-abcdef"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or a scratch PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return str(request.getfixturevalue("scratch_pg"))


@pytest.fixture
def bare_app(empty_database: str, tmp_path: Path, keys_dir: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "IDP_ISSUER": "http://localhost",
            "IDP_SECRET_KEY": SECRET,
            "IDP_DATABASE_URL": empty_database,
            "IDP_KEYS_DIR": str(keys_dir),
            "IDP_INSTANCE_DIR": str(tmp_path),
            "IDP_ARGON2_TIME_COST": 1,
            "IDP_ARGON2_MEMORY_COST": 256,
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _first_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    (base,) = script.get_bases()
    return str(base)


def _diff() -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def test_models_and_migrations_agree(bare_app: Flask) -> None:
    upgrade(revision="heads")
    assert _diff() == []


def test_the_first_revision_is_0001_and_there_is_one_head() -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    assert _first_revision() == "0001"
    assert len(script.get_heads()) == 1, "migrations must form one chain"


def test_file_numbers_are_unique_and_follow_the_chain() -> None:
    """``NNNN_slug.py``: one number per file, in upgrade order (revision ids may differ)."""
    script = ScriptDirectory(str(MIGRATIONS))
    chain = list(reversed(list(script.walk_revisions())))
    numbers = [int(Path(str(rev.path)).name.split("_", 1)[0]) for rev in chain]
    assert numbers == list(range(1, len(chain) + 1))


def test_upgrade_from_the_first_revision_keeps_the_rows(bare_app: Flask) -> None:
    upgrade(revision=_first_revision())
    now = dt.datetime(2026, 4, 1, 9, 30, tzinfo=dt.UTC)
    passwords = container().passwords
    with db.engine.begin() as conn:
        # The tables as the first revision made them (not as today's models see them).
        old = MetaData()
        patrons = Table("patrons", old, autoload_with=conn)
        clients = Table("clients", old, autoload_with=conn)
        conn.execute(
            insert(patrons),
            [
                {
                    "card_number": f"030000000{i}",
                    "subject": f"subject-{i}",
                    "password_hash": passwords.hash(f"pass{i}word"),
                    "is_temporary_password": i == 2,
                    "temporary_password_expires_at": None,
                    "password_changed_at": now,
                    "password_version": 1,
                    "expires_on": dt.date(2028, 11, 30),
                    "status": "active",
                    "name": "図書館 花子" if i == 1 else None,
                    "category": "adult",
                    "email": f"p{i}@example.org",
                    "is_email_verified": True,
                    "email2": None,
                    "is_email2_verified": False,
                    "notify_due_date": True,
                    "notify_reservation": False,
                    "locale": "ja",
                    "failed_login_count": i,
                    "locked_at": None,
                    "last_login_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, 4)
            ],
        )
        conn.execute(insert(clients).values(**_client_row(now)))

    upgrade(revision="heads")

    rows = db.session.scalars(select(Patron).order_by(Patron.card_number)).all()
    assert [p.card_number for p in rows] == ["0300000001", "0300000002", "0300000003"]
    first = rows[0]
    assert first.name == "図書館 花子"
    assert first.subject == "subject-1"
    assert first.expires_on == dt.date(2028, 11, 30)
    assert first.password_changed_at == now
    assert passwords.verify(first.password_hash, "pass1word")
    assert [p.is_temporary_password for p in rows] == [False, True, False]
    assert [p.failed_login_count for p in rows] == [1, 2, 3]
    client = db.session.scalar(select(Client).where(Client.client_id == "mylibrary"))
    assert client is not None
    assert client.redirect_uris == ["https://my.library.example/callback"]
    assert client.check_client_secret(CLIENT_SECRET)
    assert not client.check_client_secret("wrong")
    # And the upgraded database is exactly what the models describe.
    assert _diff() == []


def _client_row(now: dt.datetime) -> dict[str, Any]:
    """A client as the first revision's ``clients`` holds it."""
    from idp.models.client import hash_client_secret

    return {
        "client_id": "mylibrary",
        "name": "MyLibrary",
        "client_secret_hash": hash_client_secret(CLIENT_SECRET),
        "redirect_uris": ["https://my.library.example/callback"],
        "post_logout_redirect_uris": ["https://my.library.example/"],
        "scopes": ["openid", "profile", "library_card"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "temporary_password_policy": "change",
        "subject_type": "public",
        "sector_identifier": "",
        "is_first_party": True,
        "backchannel_logout_uri": None,
        "is_enabled": True,
        "updated_at": now,
    }


def test_upgrade_keeps_each_token_until_its_later_expiry(bare_app: Flask) -> None:
    upgrade(revision="0005_device")
    now = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    with db.engine.begin() as conn:
        old = MetaData()
        clients = Table("clients", old, autoload_with=conn)
        tokens = Table("tokens", old, autoload_with=conn)
        conn.execute(insert(clients).values(**_client_row(now)))
        rows = [
            ("with-refresh", now + dt.timedelta(hours=1), now + dt.timedelta(days=30)),
            ("access-only", now + dt.timedelta(hours=1), None),
            ("short-refresh", now + dt.timedelta(hours=2), now + dt.timedelta(hours=1)),
        ]
        conn.execute(
            insert(tokens),
            [
                {
                    "client_id": "mylibrary",
                    "patron_id": None,
                    "scope": "openid",
                    "access_token_hash": name.ljust(64, "a"),
                    "refresh_token_hash": name.ljust(64, "r") if refresh else None,
                    "family_id": name,
                    "issued_at": now,
                    "access_expires_at": access,
                    "refresh_expires_at": refresh,
                }
                for name, access, refresh in rows
            ],
        )

    upgrade(revision="heads")

    kept = {row[0]: row[1] for row in db.session.execute(select(Token.family_id, Token.kept_until))}
    assert kept == {
        "with-refresh": now + dt.timedelta(days=30),
        "access-only": now + dt.timedelta(hours=1),
        "short-refresh": now + dt.timedelta(hours=2),
    }
    assert _diff() == []


def test_the_comparison_sees_a_table_no_model_has(bare_app: Flask) -> None:
    upgrade(revision="heads")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE stray_table (id INTEGER PRIMARY KEY)")
    diff = _diff()
    assert [(d[0], d[1].name) for d in diff] == [("remove_table", "stray_table")]
