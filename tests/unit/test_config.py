"""Configuration: environment variables, start-up checks, generated secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp import create_app
from idp.config import ConfigError
from idp.config import ensure_secret_key
from idp.config import from_environment
from idp.config import validate


def test_environment_values_take_the_type_of_their_default() -> None:
    found = from_environment(
        {"IDP_ISSUER": "https://idp.example.org", "IDP_CODE_TTL": "30", "IDP_TRUST_PROXY": "1"}
    )
    assert found == {
        "IDP_ISSUER": "https://idp.example.org",
        "IDP_CODE_TTL": 30,
        "IDP_TRUST_PROXY": True,
    }


def test_environment_number_must_be_a_number() -> None:
    with pytest.raises(ConfigError, match="IDP_CODE_TTL must be a whole number"):
        from_environment({"IDP_CODE_TTL": "soon"})


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
        validate({"IDP_ISSUER": issuer, "SECRET_KEY": "x" * 40})


@pytest.mark.parametrize("secret", ["dev", "short", ""])
def test_production_refuses_weak_secrets(secret: str) -> None:
    with pytest.raises(ConfigError, match="IDP_SECRET_KEY"):
        validate({"IDP_ISSUER": "https://idp.example.org", "SECRET_KEY": secret})


def test_localhost_may_use_http_in_production() -> None:
    validate({"IDP_ISSUER": "http://127.0.0.1:5000", "SECRET_KEY": "x" * 40})


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = ensure_secret_key(tmp_path)
    assert len(first) >= 32
    assert ensure_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_create_app_refuses_http_issuer_outside_testing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
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
    assert app.config["IDP_DATABASE_URL"] == f"sqlite:///{tmp_path / 'idp.sqlite3'}"
