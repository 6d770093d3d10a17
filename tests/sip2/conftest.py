"""The SIP2 responder on the real database: a terminals file, a served port, raw terminals."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from Sip2.sip2 import Sip2

from idp.sip2.server import Sip2Server
from idp.sip2.service import create_server
from tests.support.sip2 import RawClient
from tests.support.sip2 import pypi_client
from tests.support.sip2 import raw_connections
from tests.support.sip2 import server_starter
from tests.support.sip2 import signed

DLIBRARY_PASSWORD = "dlibrary-terminal-pass-0001"
SELFCHECK_PASSWORD = "selfcheck-terminal-pass-02"
PROXY_PASSWORD = "proxy-terminal-pass-000003"
HASHED_PASSWORD = "hashed-terminal-pass-00004"
#: The environment the terminals file's ``password_env`` variables are read from.
TERMINAL_ENV = {
    "SIP2_TEST_DLIBRARY": DLIBRARY_PASSWORD,
    "SIP2_TEST_SELFCHECK": SELFCHECK_PASSWORD,
    "SIP2_TEST_PROXY": PROXY_PASSWORD,
}
#: Every secret the tests send, to check that none reaches a log or the audit table.
SECRETS = (DLIBRARY_PASSWORD, SELFCHECK_PASSWORD, PROXY_PASSWORD, HASHED_PASSWORD)
DATE = "20060101    084237"
SUMMARY = " " * 10


def terminals_toml(hashed: str) -> str:
    """The test terminals file: a vendor, a self-check, a proxy without login, a hash."""
    return f"""
[[terminal]]
login = "d-library"
password_env = "SIP2_TEST_DLIBRARY"
institution_id = "CENTRAL"
language = "ja"
allow_name = true
allow_email = true

[[terminal]]
login = "selfcheck"
password_env = "SIP2_TEST_SELFCHECK"
language = "en"
networks = ["127.0.0.0/8"]

[[terminal]]
login = "proxy"
password_env = "SIP2_TEST_PROXY"
login_required = false

[[terminal]]
login = "faraway"
password_hash = "{hashed}"
networks = ["192.0.2.0/24"]

[[terminal]]
login = "hashed"
password_hash = "{hashed}"
language = "en"
"""


@pytest.fixture(scope="session")
def terminal_hash() -> str:
    return PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(HASHED_PASSWORD)


@pytest.fixture
def terminals_file(tmp_path: Path, terminal_hash: str) -> Path:
    path = tmp_path / "sip2-terminals.toml"
    path.write_text(terminals_toml(terminal_hash), encoding="utf-8")
    return path


@pytest.fixture
def app_config(app_config: dict[str, Any], terminals_file: Path) -> dict[str, Any]:
    """The SIP2 settings; per-address limits high so that tests count only what they mean."""
    app_config.update(
        IDP_SIP2_TERMINALS=str(terminals_file),
        IDP_SIP2_INSTITUTION_ID="DEFAULT",
        IDP_SIP2_EXPIRY_FIELD="PA",
        IDP_THROTTLE_IP_PER_MINUTE=1000,
        IDP_THROTTLE_NET_PER_MINUTE=1000,
    )
    return app_config


@pytest.fixture
def make_server(app: Flask) -> Iterator[Callable[..., Sip2Server]]:
    """Start the product's responder (``create_server``) on a free loopback port."""

    def build(**overrides: Any) -> Sip2Server:
        return create_server(app, env=TERMINAL_ENV, host="127.0.0.1", port=0, **overrides)

    with server_starter(build) as make:
        yield make


@pytest.fixture
def server(make_server: Callable[..., Sip2Server]) -> Sip2Server:
    return make_server()


def login(user: str, password: str, seq: int = 0) -> bytes:
    return signed(f"9300CN{user}|CO{password}|CPLocationCode|AY{seq}")


def patron_status(card: str, password: str | None = None, *, seq: int = 1, ac: str = "") -> bytes:
    ad = "" if password is None else f"AD{password}|"
    return signed(f"23001{DATE}AOUWOLS|AA{card}|{ad}AC{ac}|AY{seq}")


def patron_information(card: str, password: str | None = None, *, seq: int = 2) -> bytes:
    ad = "" if password is None else f"AD{password}|"
    return signed(f"63001{DATE}{SUMMARY}AOUWOLS|AA{card}|{ad}AY{seq}")


@pytest.fixture
def connect(server: Sip2Server) -> Iterator[Callable[..., RawClient]]:
    """Open raw connections to ``server`` (closed after the test)."""
    with raw_connections() as open_:
        yield partial(open_, server)


@pytest.fixture
def terminal(connect: Callable[..., RawClient]) -> RawClient:
    """A raw connection logged in as the e-library vendor (names and e-mail allowed)."""
    client = connect()
    assert client.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
    return client


@pytest.fixture
def sip2_client(server: Sip2Server) -> Iterator[Sip2]:
    """The independent PyPI ``sip2`` client, connected to ``server``."""
    with pypi_client(server, "CENTRAL") as client:
        yield client
