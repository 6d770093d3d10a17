"""The terminals file: what it accepts, and the exact reason when it does not."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from idp.cli.sip2 import DEMO_TERMINAL_SECRETS
from idp.config import PROJECT_ROOT
from idp.settings import ConfigError
from idp.settings import app_settings
from idp.sip2.service import options_from_settings
from idp.sip2.service import tls_context
from idp.sip2.terminals import HashedPassword
from idp.sip2.terminals import TerminalConfigError
from idp.sip2.terminals import load_terminals
from idp.sip2.terminals import parse_terminals

ENV = {"TERMINAL_PW": "terminal-password-1", "OTHER_PW": "terminal-password-2"}


def one(**table: Any) -> dict[str, Any]:
    return {"terminal": [{"login": "vendor", "password_env": "TERMINAL_PW", **table}]}


def test_a_full_terminal() -> None:
    [entry] = parse_terminals(
        one(
            institution_id="CENTRAL",
            language="en",
            allow_name=True,
            allow_email=True,
            networks=["192.0.2.0/24", "2001:db8::/32"],
            description="vendor",
        ),
        ENV,
    )
    assert entry.login == "vendor"
    assert entry.password == "terminal-password-1"
    settings = entry.settings
    assert (settings.language, settings.is_name_released, settings.is_email_released) == (
        "en",
        True,
        True,
    )
    assert settings.institution_id == "CENTRAL"
    assert settings.allowed_networks == (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert settings.is_allowed_from("192.0.2.77")
    assert settings.is_allowed_from("::ffff:192.0.2.77")
    assert not settings.is_allowed_from("198.51.100.1")
    assert not settings.is_allowed_from("not-an-address")


def test_defaults_release_nothing() -> None:
    [entry] = parse_terminals(one(), ENV)
    settings = entry.settings
    assert settings.language == "ja"
    assert not settings.is_name_released
    assert not settings.is_email_released
    assert settings.is_login_required
    assert settings.allowed_networks == ()
    assert settings.is_allowed_from("203.0.113.9")


def test_password_hash() -> None:
    table = {"login": "vendor", "password_hash": "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA"}
    [entry] = parse_terminals({"terminal": [table]}, {})
    assert isinstance(entry.password, HashedPassword)


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        (
            {"terminal": [{"login": "vendor", "password": "in-clear-123"}]},
            ENV,
            "terminal 'vendor': no password in clear in the file; "
            "use password_env or password_hash",
        ),
        (
            {"terminal": [{"login": "vendor"}]},
            ENV,
            "terminal 'vendor': set exactly one of password_env and password_hash",
        ),
        (
            one(password_hash="$argon2id$x"),
            ENV,
            "terminal 'vendor': set exactly one of password_env and password_hash",
        ),
        (one(), {}, "terminal 'vendor': environment variable TERMINAL_PW is not set"),
        (
            one(),
            {"TERMINAL_PW": "short"},
            "terminal 'vendor': the password in TERMINAL_PW is shorter than 8",
        ),
        (
            {"terminal": [{"login": "vendor", "password_hash": "plain"}]},
            ENV,
            "terminal 'vendor': a terminal password hash must be an Argon2 hash",
        ),
        (one(colour="red"), ENV, "terminal 'vendor': unknown key(s) colour"),
        (one(language="fr"), ENV, "terminal 'vendor': language must be one of en, ja"),
        (one(allow_name="yes"), ENV, "terminal 'vendor': allow_name must be true or false"),
        (one(networks="10.0.0.0/8"), ENV, "terminal 'vendor': networks must be a list of strings"),
        (
            one(networks=["10.0.0.0/33"]),
            ENV,
            "terminal 'vendor': '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
        ),
        (
            {"terminal": [{"login": "", "password_env": "TERMINAL_PW"}]},
            ENV,
            "terminal #1: login must be a non-empty printable string",
        ),
        (
            {"terminal": [{"login": "a|b", "password_env": "TERMINAL_PW"}]},
            ENV,
            "terminal 'a|b': login must be a non-empty printable string",
        ),
        ({"terminal": []}, ENV, "no terminal is configured"),
        ({}, ENV, "no terminal is configured"),
        ({"terminals": []}, ENV, "unknown top-level key(s) terminals"),
        ({"terminal": {"login": "x"}}, ENV, "terminals are [[terminal]] tables"),
        (
            {"terminal": [one()["terminal"][0], one()["terminal"][0]]},
            ENV,
            "terminal login(s) configured twice: vendor",
        ),
        (
            {
                "terminal": [
                    {"login": "a", "password_env": "TERMINAL_PW", "login_required": False},
                    {"login": "b", "password_env": "TERMINAL_PW", "login_required": False},
                ]
            },
            ENV,
            "terminals without login need distinct passwords",
        ),
        (
            {
                "terminal": [
                    {
                        "login": "a",
                        "password_hash": "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$aGFzaA",
                        "login_required": False,
                    }
                ]
            },
            ENV,
            "terminal 'a': a terminal without login needs password_env",
        ),
    ],
)
def test_invalid_terminals_are_refused_with_the_reason(
    data: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(TerminalConfigError) as excinfo:
        parse_terminals(data, env)
    assert str(excinfo.value) == message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TerminalConfigError, match="does not exist"):
        load_terminals(tmp_path / "missing.toml", ENV)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[terminal]\nlogin=", encoding="utf-8")
    with pytest.raises(TerminalConfigError, match=r"broken\.toml"):
        load_terminals(broken, ENV)


def test_the_sample_file_loads_with_the_demo_secrets() -> None:
    sample = PROJECT_ROOT / "terminals" / "sip2.toml"
    entries = load_terminals(sample, DEMO_TERMINAL_SECRETS)
    assert [e.login for e in entries] == ["d-library", "selfcheck-1"]
    with pytest.raises(TerminalConfigError) as excinfo:
        load_terminals(sample, {})
    assert "SIP2_DLIBRARY_PASSWORD is not set" in str(excinfo.value)


def test_server_options_from_settings(app: Any) -> None:
    settings = app_settings(app)
    options = options_from_settings(settings.with_values({"IDP_SIP2_EXPIRY_FIELD": "PA"}))
    assert options.max_connections == 64
    assert options.max_connections_per_address == 8
    assert options.idle_timeout == 60
    assert options.login_timeout == 10
    assert options.max_message_bytes == 4096
    assert options.expiry_field == "PA"
    with pytest.raises(ConfigError, match="IDP_SIP2_MAX_CONNECTIONS "):
        settings.with_values({"IDP_SIP2_MAX_CONNECTIONS": 0})
    with pytest.raises(ConfigError, match="IDP_SIP2_MAX_CONNECTIONS_PER_ADDRESS"):
        settings.with_values({"IDP_SIP2_MAX_CONNECTIONS_PER_ADDRESS": 0})
    with pytest.raises(ConfigError, match="IDP_SIP2_LOGIN_TIMEOUT"):
        settings.with_values({"IDP_SIP2_LOGIN_TIMEOUT": 0})
    with pytest.raises(ConfigError, match="IDP_SIP2_ENCODING"):
        settings.with_values({"IDP_SIP2_ENCODING": "no-such-codec"})


def test_tls_settings(tmp_path: Path) -> None:
    assert tls_context("", "") is None
    with pytest.raises(TerminalConfigError, match="both a certificate and a key"):
        tls_context(str(tmp_path / "cert.pem"), "")
    with pytest.raises(TerminalConfigError, match="cannot load"):
        tls_context(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


def test_hash_password_command(app: Any) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["sip2", "hash-password"], input="a-terminal-secret\na-terminal-secret\n"
    )
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert HashedPassword(hashed).matches("a-terminal-secret")
    assert not HashedPassword(hashed).matches("another-secret")
    short = runner.invoke(args=["sip2", "hash-password"], input="short\nshort\n")
    assert short.exit_code == 1
    assert "Error: use at least 8 characters" in short.output
