"""Back-channel logout never makes the provider post into its own network (SSRF)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import HTTPServer
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner

from idp.config import ConfigError
from idp.extensions import db
from idp.models.client import Client
from idp.services.backchannel import notifier
from idp.services.clients import ClientFileError
from idp.services.clients import parse_client
from idp.services.destinations import check_uri
from idp.services.destinations import private_allowed
from idp.settings import load_settings
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import RelyingParty

PRIVATE = [
    "http://127.0.0.1:5001/bcl",
    "http://localhost/bcl",
    "https://app.localhost/bcl",
    "https://[::1]/bcl",
    "https://10.1.2.3/bcl",
    "https://172.16.0.1/bcl",
    "https://192.168.1.10/bcl",
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/bcl",
    "https://[fd00::1]/bcl",
    "https://[::ffff:10.0.0.1]/bcl",
    "https://100.64.0.1/bcl",
    "https://0.0.0.0/bcl",
    "https://runsc/bcl",  # a name that resolves to 127.0.0.1 (/etc/hosts)
]
FILE = {
    "client_id": "rp",
    "client_secret_env": "RP_SECRET",
    "redirect_uris": ["https://rp.example.org/cb"],
    "scopes": ["openid"],
}
ENV = {"RP_SECRET": "r" * 40}


@pytest.mark.parametrize("uri", PRIVATE)
def test_a_private_back_channel_uri_is_refused_at_registration(uri: str) -> None:
    with pytest.raises(ClientFileError, match="backchannel_logout_allow_private"):
        parse_client({**FILE, "backchannel_logout_uri": uri}, "rp.toml", ENV, allow_private=False)


@pytest.mark.parametrize("uri", PRIVATE[:3])
def test_the_client_file_may_allow_a_private_uri(uri: str) -> None:
    data = {**FILE, "backchannel_logout_uri": uri, "backchannel_logout_allow_private": True}
    spec = parse_client(data, "rp.toml", ENV, allow_private=False)
    assert spec.backchannel_logout_uri == uri and spec.backchannel_allow_private


def test_the_allowance_must_be_a_boolean() -> None:
    data = {**FILE, "backchannel_logout_allow_private": "yes"}
    with pytest.raises(ClientFileError, match="must be true or false"):
        parse_client(data, "rp.toml", ENV, allow_private=False)


@pytest.mark.parametrize(
    "uri",
    ["https://93.184.215.14/bcl", "https://[2606:4700::1]/bcl", "https://unresolved.invalid/x"],
)
def test_public_and_unresolvable_uris_pass_registration(uri: str) -> None:
    # A name that does not resolve now is checked at each delivery instead.
    check_uri(uri)
    spec = parse_client(
        {**FILE, "backchannel_logout_uri": uri}, "rp.toml", ENV, allow_private=False
    )
    assert not spec.backchannel_allow_private


def test_development_and_tests_allow_private_addresses_unless_told_not_to() -> None:
    assert private_allowed("auto", development=True)
    assert not private_allowed("auto", development=False)
    assert not private_allowed("false", development=True)
    assert private_allowed("true", development=False)
    with pytest.raises(ConfigError, match="IDP_BACKCHANNEL_ALLOW_PRIVATE"):
        load_settings({}, {"IDP_BACKCHANNEL_ALLOW_PRIVATE": "maybe"})


def _sync(runner: FlaskCliRunner, folder: Any, body: str) -> Result:
    (folder / "rp.toml").write_text(body, encoding="utf-8")
    return runner.invoke(args=["clients", "sync", str(folder)], env=ENV)


CLIENT_TOML = """
client_id = "rp"
client_secret_env = "RP_SECRET"
redirect_uris = ["https://rp.example.org/cb"]
scopes = ["openid"]
backchannel_logout_uri = "https://169.254.169.254/latest/meta-data"
"""


@pytest.mark.parametrize(("setting", "refused"), [("false", True), ("auto", False)])
def test_clients_sync_follows_the_installation_setting(
    app_config: dict[str, Any], tmp_path: Any, setting: str, refused: bool
) -> None:
    from idp import create_app

    app = create_app({**app_config, "IDP_BACKCHANNEL_ALLOW_PRIVATE": setting})
    try:
        result = _sync(app.test_cli_runner(), tmp_path, CLIENT_TOML)
    finally:
        with app.app_context():  # this second application's connections end here
            db.session.remove()
            db.engine.dispose()
            shared = app.extensions["idp"].redis
            if shared is not None:
                shared.close()
    assert (result.exit_code != 0) is refused, result.output
    if refused:
        assert "169.254.169.254" in result.output and "non-public" in result.output


# --- at delivery time ----------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[str]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(self.rfile.read(length).decode())  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    """A real client back-channel endpoint on loopback."""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # As in production: private destinations only where a client file allows them.
    return {**app_config, "IDP_BACKCHANNEL_ALLOW_PRIVATE": "false", "IDP_BACKCHANNEL_RETRIES": 0}


def _logout_after_sign_in(app: Flask, portal: Any, patron: Any) -> list[Any]:
    party = RelyingParty.for_client(app.test_client(), portal, PORTAL_SECRET)
    tokens = party.exchange(party.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    response = party.browser.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 200
    live = notifier()
    try:
        return live.drain(timeout=10)
    finally:
        live.shutdown()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "runsc"])
def test_a_delivery_to_a_private_address_is_refused_at_connect_time(
    app: Flask, portal: Any, patron: Any, receiver: HTTPServer, host: str
) -> None:
    # Registered when the name still pointed elsewhere (or written to the database
    # directly): the address actually connected to decides.
    portal.backchannel_logout_uri = f"http://{host}:{receiver.server_port}/bcl"
    db.session.commit()
    [result] = _logout_after_sign_in(app, portal, patron)
    assert (result.ok, result.attempts, result.failure) == (False, 1, "non-public address")
    assert receiver.received == []  # type: ignore[attr-defined]


def test_a_client_allowed_private_addresses_is_delivered_to(
    app: Flask, portal: Client, patron: Any, receiver: HTTPServer
) -> None:
    portal.backchannel_logout_uri = f"http://localhost:{receiver.server_port}/bcl"
    portal.backchannel_logout_allow_private = True
    db.session.commit()
    [result] = _logout_after_sign_in(app, portal, patron)
    assert result.ok
    [body] = receiver.received  # type: ignore[attr-defined]
    assert body.startswith("logout_token=")
