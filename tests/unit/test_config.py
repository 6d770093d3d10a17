"""Start-up: production checks, the generated secret, settings given to create_app."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp import create_app
from idp.config import ensure_secret_key
from idp.settings import ConfigError
from idp.settings import app_settings
from idp.settings import check_production
from idp.settings import load_settings


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("http://idp.example.org", "must use https://"),
        ("https://idp.example.org/", "trailing slash"),
        ("idp.example.org", "absolute http"),
        ("https://idp.example.org?x=1", "no query"),
    ],
)
def test_production_refuses_unsafe_issuers(issuer: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_production(load_settings({}, {"IDP_ISSUER": issuer}), "x" * 40)


@pytest.mark.parametrize("secret", ["dev", "short", ""])
def test_production_refuses_weak_secrets(secret: str) -> None:
    settings = load_settings({}, {"IDP_ISSUER": "https://idp.example.org"})
    with pytest.raises(ConfigError, match="IDP_SECRET_KEY"):
        check_production(settings, secret)


def test_localhost_may_use_http_in_production() -> None:
    check_production(load_settings({}, {"IDP_ISSUER": "http://127.0.0.1:5000"}), "x" * 40)


PUBLIC = "https://idp.example.org"


@pytest.mark.parametrize(
    ("memory_cost", "time_cost"), [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]
)
def test_every_owasp_argon2id_row_is_accepted(memory_cost: int, time_cost: int) -> None:
    check_production(
        load_settings(
            {},
            {
                "IDP_ISSUER": PUBLIC,
                "IDP_ARGON2_MEMORY_COST": memory_cost,
                "IDP_ARGON2_TIME_COST": time_cost,
            },
        ),
        "x" * 40,
    )


@pytest.mark.parametrize(
    ("memory_cost", "time_cost"), [(19455, 2), (47103, 1), (9216, 3), (7168, 4), (256, 100)]
)
def test_argon2id_below_every_owasp_row_is_refused(memory_cost: int, time_cost: int) -> None:
    settings = load_settings(
        {},
        {
            "IDP_ISSUER": PUBLIC,
            "IDP_ARGON2_MEMORY_COST": memory_cost,
            "IDP_ARGON2_TIME_COST": time_cost,
        },
    )
    with pytest.raises(ConfigError, match="IDP_ARGON2_MEMORY_COST and IDP_ARGON2_TIME_COST"):
        check_production(settings, "x" * 40)
    # On this machine (tests, benchmarks) a cheap hash is allowed.
    local = load_settings(
        {},
        {
            "IDP_ISSUER": "http://127.0.0.1:5000",
            "IDP_ARGON2_MEMORY_COST": memory_cost,
            "IDP_ARGON2_TIME_COST": time_cost,
        },
    )
    check_production(local, "x" * 40)


def test_default_argon2id_cost_is_owasp_9_mib_row() -> None:
    accounts = load_settings({}).accounts
    assert (accounts.argon2_memory_cost, accounts.argon2_time_cost) == (9216, 4)
    assert accounts.argon2_parallelism == 1
    check_production(load_settings({}, {"IDP_ISSUER": PUBLIC}), "x" * 40)


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = ensure_secret_key(tmp_path)
    assert len(first) >= 32
    assert ensure_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_create_app_refuses_http_issuer_outside_testing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IDP_ISSUER"):
        create_app(
            {
                "IDP_ISSUER": "http://idp.example.org",
                "IDP_INSTANCE_DIR": str(tmp_path),
                "IDP_KEYS_DIR": str(tmp_path / "keys"),
            }
        )


def test_create_app_generates_secret_and_keys_on_first_start(tmp_path: Path) -> None:
    app = create_app({"IDP_INSTANCE_DIR": str(tmp_path), "IDP_KEYS_DIR": str(tmp_path / "keys")})
    assert (tmp_path / "secret_key").exists()
    assert (tmp_path / "keys" / "state.json").exists()
    assert app.config["SECRET_KEY"] == (tmp_path / "secret_key").read_text().strip()
    assert app_settings(app).database.url == f"sqlite:///{tmp_path / 'idp.sqlite3'}"


def test_flask_config_keeps_no_idp_settings(tmp_path: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "IDP_INSTANCE_DIR": str(tmp_path),
            "IDP_KEYS_DIR": str(tmp_path / "keys"),
            "IDP_CODE_TTL": 30,
        }
    )
    assert not [key for key in app.config if key.startswith("IDP_")]
    assert app.config["TESTING"] is True
    assert app_settings(app).tokens.code_ttl == 30


def test_create_app_refuses_a_bad_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IDP_CODE_TTL must be at least 1"):
        create_app({"TESTING": True, "IDP_INSTANCE_DIR": str(tmp_path), "IDP_CODE_TTL": -5})
