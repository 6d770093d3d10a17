"""Settings: read once from the environment and create_app's mapping, typed and checked,
documented beside their declaration, and the README's table generated from them."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from pathlib import Path
from typing import Any

import pytest

from idp.settings import ConfigError
from idp.settings import Settings
from idp.settings import load_settings
from idp.settings.docs import markdown_table
from idp.settings.docs import replace_table
from idp.settings.load import known_keys
from idp.settings.load import section_specs
from idp.settings.load import sections

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_text_takes_the_declared_type() -> None:
    settings = load_settings(
        {
            "IDP_ISSUER": "https://idp.example.org",
            "IDP_CODE_TTL": "30",
            "IDP_TRUST_PROXY": "1",
            "IDP_SIP2_IDLE_TIMEOUT": "2.5",
            "IDP_REDIS_URL": "",
        }
    )
    assert settings.site.issuer == "https://idp.example.org"
    assert settings.tokens.code_ttl == 30
    assert settings.site.trust_proxy is True
    assert settings.sip2.idle_timeout == 2.5
    assert settings.redis.url is None


def test_lists_are_read_from_comma_separated_text() -> None:
    settings = load_settings(
        {"IDP_STAFF_NETWORKS": "10.0.0.0/8, 192.168.1.7,", "IDP_LANGUAGES": "en"},
        {"IDP_SAML_AFFILIATIONS": ""},
    )
    assert settings.staff.networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
    )
    assert settings.site.languages == ("en",)
    assert settings.saml.affiliations == ()
    assert load_settings({}).metrics.networks == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )


def test_the_mapping_overrides_the_environment() -> None:
    settings = load_settings({"IDP_CODE_TTL": "30"}, {"IDP_CODE_TTL": 45})
    assert settings.tokens.code_ttl == 45


def test_defaults_load_and_sections_are_frozen() -> None:
    settings = load_settings({})
    assert settings == Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.tokens.code_ttl = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("IDP_CODE_TTL", "soon", "IDP_CODE_TTL must be a whole number"),
        ("IDP_CODE_TTL", "-5", "IDP_CODE_TTL must be at least 1"),
        ("IDP_CODE_TTL", "120", "IDP_CODE_TTL must be at most 60"),
        ("IDP_ACCESS_TOKEN_TTL", "0", "IDP_ACCESS_TOKEN_TTL must be at least 1"),
        ("IDP_THROTTLE_IP_PER_MINUTE", "-1", "IDP_THROTTLE_IP_PER_MINUTE must be at least 0"),
        ("IDP_THROTTLE_CARD_LOCK_AFTER", "500", "IDP_THROTTLE_CARD_LOCK_AFTER must be at most"),
        ("IDP_TRUST_PROXY", "maybe", "IDP_TRUST_PROXY must be 1 or 0"),
        ("IDP_ISSUER", "ftp://idp.example.org", "IDP_ISSUER must be an absolute http"),
        ("IDP_REDIS_URL", "localhost:6379", "IDP_REDIS_URL must be a redis://"),
        ("IDP_SMTP_URL", "mail.example.org", "IDP_SMTP_URL must be smtp://"),
        ("IDP_DATABASE_URL", "idp.sqlite3", "IDP_DATABASE_URL must be an SQLAlchemy URL"),
        ("IDP_LIBRARY_URL", "www.library.example.jp", "IDP_LIBRARY_URL must be an absolute"),
        ("IDP_METRICS_NETWORKS", "everyone", "IDP_METRICS_NETWORKS must list addresses"),
        ("IDP_LOG_LEVEL", "LOUD", "IDP_LOG_LEVEL must be one of"),
        ("IDP_LANGUAGES", "", "IDP_LANGUAGES must list language codes"),
        ("IDP_STAFF_NETWORKS", "10.0.0.0/8,intranet", "IDP_STAFF_NETWORKS must list addresses"),
        ("IDP_TIMEZONE", "Mars/Olympus", "IDP_TIMEZONE must be an IANA time zone"),
        ("IDP_CARD_NUMBER_PATTERN", "(", "IDP_CARD_NUMBER_PATTERN is not a regular expression"),
        ("IDP_BIND", "8000", "IDP_BIND must be host:port"),
        ("IDP_REFRESH_REUSE_GRACE", "61", "IDP_REFRESH_REUSE_GRACE must be at most 60"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({key: value})
    with pytest.raises(ConfigError, match=message):
        load_settings({}, {key: value})


def test_a_typed_override_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="IDP_CODE_TTL must be a whole number"):
        load_settings({}, {"IDP_CODE_TTL": 1.5})
    with pytest.raises(ConfigError, match="IDP_SESSION_COOKIE must be text"):
        load_settings({}, {"IDP_SESSION_COOKIE": 5})


def test_choices_are_read_without_case_and_kept_as_declared() -> None:
    settings = load_settings({"IDP_LOG_LEVEL": "info", "IDP_SQLITE_SYNCHRONOUS": " FULL "})
    assert settings.logs.level == "INFO"
    assert settings.database.sqlite_synchronous == "full"


def test_zero_still_switches_a_limit_off() -> None:
    assert load_settings({"IDP_THROTTLE_IP_PER_MINUTE": "0"}).throttle.ip_per_minute == 0


def test_an_unknown_setting_in_the_mapping_is_refused_with_a_hint() -> None:
    with pytest.raises(
        ConfigError, match=r"IDP_CODE_TTLS is not a setting \(did you mean IDP_CODE_TTL\?\)"
    ):
        load_settings({}, {"IDP_CODE_TTLS": 30})


def test_an_unknown_setting_in_the_environment_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="idp"):
        settings = load_settings(
            {"IDP_CODE_TTLS": "30", "IDP_STAFF_USER": "kaori", "IDP_TEST_REDIS_URL": "x"}
        )
    assert settings.tokens.code_ttl == 60
    warned = [record.getMessage() for record in caplog.records]
    assert warned == ["IDP_CODE_TTLS is not a setting (did you mean IDP_CODE_TTL?); ignored"]


def test_with_values_checks_like_at_start() -> None:
    settings = load_settings({})
    assert settings.with_values({"IDP_CODE_TTL": 10}).tokens.code_ttl == 10
    with pytest.raises(ConfigError, match="IDP_CODE_TTL"):
        settings.with_values({"IDP_CODE_TTL": -5})


def test_every_setting_is_documented_and_named_once() -> None:
    seen: list[str] = []
    for _, section in sections(Settings):
        assert section.__doc__
        for _, _, spec in section_specs(section):
            assert spec.key.startswith("IDP_") and spec.title and spec.description
            seen.append(spec.key)
    assert len(seen) == len(set(seen)) == len(known_keys(Settings))


def test_every_default_passes_its_own_checks() -> None:
    defaults: dict[str, Any] = {}
    for _, section in sections(Settings):
        for item, _, spec in section_specs(section):
            defaults[spec.key] = item.default
    assert load_settings({}, defaults) == Settings()


def test_the_readme_table_is_generated_from_the_settings() -> None:
    readme = README.read_text(encoding="utf-8")
    assert replace_table(readme) == readme, (
        "README's configuration table is out of step: python -m idp.settings.docs --write README.md"
    )
    for key in known_keys(Settings):
        assert f"`{key}`" in markdown_table()
