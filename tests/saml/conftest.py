"""A real SAML service provider (pysaml2's Saml2Client) registered from a client file."""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.xmldsig import DIGEST_SHA256
from saml2.xmldsig import SIG_RSA_SHA256
from werkzeug.test import TestResponse

from idp.saml.keys import SamlKeys
from idp.saml.server import XMLSEC1
from idp.settings import app_settings
from tests.support.oidc import csrf_token

SP_ENTITY = "https://sp.example.org/shibboleth"
SP_ACS = "https://sp.example.org/Shibboleth.sso/SAML2/POST"
IDP_METADATA_PATH = "/saml/metadata"


@pytest.fixture(scope="session")
def sp_keys(tmp_path_factory: pytest.TempPathFactory) -> SamlKeys:
    keys = SamlKeys(tmp_path_factory.mktemp("sp-keys"), "sp.example.org")
    keys.ensure()
    return keys


def sp_config(
    keys: SamlKeys, idp_metadata: str | None, *, entity: str = SP_ENTITY, sign: bool = True
) -> SPConfig:
    pair = keys.active()
    data: dict[str, Any] = {
        "entityid": entity,
        "xmlsec_binary": XMLSEC1,
        "key_file": str(pair.key_file),
        "cert_file": str(pair.cert_file),
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)]},
                "authn_requests_signed": sign,
                "want_assertions_signed": True,
                "want_response_signed": True,
                "allow_unsolicited": False,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            }
        },
    }
    if idp_metadata is not None:
        data["metadata"] = {"inline": [idp_metadata]}
    config = SPConfig()
    config.load(data)
    return config


def sp_metadata(keys: SamlKeys, *, entity: str = SP_ENTITY) -> str:
    found = create_metadata_string(None, config=sp_config(keys, None, entity=entity))
    return found.decode("utf-8") if isinstance(found, bytes) else str(found)


def write_sp_file(folder: Path, keys: SamlKeys, name: str = "ebook", **settings: Any) -> Path:
    """A ``clients/<name>.toml`` with ``protocol = "saml"`` and its metadata file."""
    entity = settings.pop("entity_id", SP_ENTITY)
    (folder / f"{name}-sp.xml").write_text(sp_metadata(keys, entity=entity), encoding="utf-8")
    lines = [
        'protocol = "saml"',
        f'entity_id = "{entity}"',
        'name = "電子書籍サービス"',
        f'metadata = "{name}-sp.xml"',
    ]
    for key, value in settings.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f'{key} = "{value}"')
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent("\n".join(lines)) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def clients_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "clients"
    folder.mkdir()
    return folder


@pytest.fixture
def app_config(app_config: dict[str, Any], clients_dir: Path) -> dict[str, Any]:
    app_config["IDP_CLIENTS_DIR"] = str(clients_dir)
    return app_config


@pytest.fixture
def register(
    app: Flask, runner: FlaskCliRunner, clients_dir: Path, sp_keys: SamlKeys
) -> Callable[..., None]:
    """Write an SP file and run ``idp clients sync``."""

    def _register(**settings: Any) -> None:
        write_sp_file(clients_dir, sp_keys, **settings)
        result = runner.invoke(args=["clients", "sync"])
        assert result.exit_code == 0, result.output
        assert "SAML service providers" in result.output

    return _register


@pytest.fixture
def sp(client: FlaskClient, sp_keys: SamlKeys) -> Saml2Client:
    """pysaml2's SP client, trusting the IdP's metadata as fetched from /saml/metadata."""
    metadata = client.get(IDP_METADATA_PATH).get_data(as_text=True)
    return Saml2Client(config=sp_config(sp_keys, metadata))


def idp_entity(app: Flask) -> str:
    return f"{app_settings(app).site.issuer}/saml/metadata"


def local(url: str) -> str:
    """The path and query of an absolute IdP URL (the test client speaks paths)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_login(
    browser: FlaskClient, sp: Saml2Client, entity: str, binding: str, relay_state: str = "rs-1"
) -> tuple[str, TestResponse]:
    """The SP sends the browser to the IdP with an AuthnRequest; the IdP's first answer."""
    request_id, info = sp.prepare_for_authenticate(
        entityid=entity, binding=binding, relay_state=relay_state, sigalg=SIG_RSA_SHA256
    )
    if binding == BINDING_HTTP_REDIRECT:
        location = dict(info["headers"])["Location"]
        return request_id, browser.get(local(location))
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', info["data"]))
    fields = {k: html.unescape(v) for k, v in fields.items()}
    action = re.search(r'action="([^"]+)"', info["data"])
    assert action is not None
    return request_id, browser.post(local(html.unescape(action.group(1))), data=fields)


def sign_in(browser: FlaskClient, response: TestResponse, card: str, password: str) -> TestResponse:
    """Follow the redirect to the hosted login page and submit it."""
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    page = browser.get(location)
    rid = re.search(r"rid=([^&]+)", location)
    assert rid is not None
    return browser.post(
        "/login",
        data={
            "card_number": card,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "rid": rid.group(1),
        },
    )


def posted_response(response: TestResponse) -> tuple[str, dict[str, str]]:
    """Follow redirects to the HTTP-POST page; its action and fields."""
    while response.status_code == 302:
        raise AssertionError("call follow() first")
    body = response.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', body)
    assert action is not None, body
    fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', body))
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in fields.items()}


def follow(browser: FlaskClient, response: TestResponse) -> TestResponse:
    while response.status_code == 302:
        response = browser.get(local(response.headers["Location"]))
    return response
