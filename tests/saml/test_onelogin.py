"""A second, independent SP library: OneLogin's python3-saml (xmlsec bindings)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from idp.saml.keys import SamlKeys
from tests.saml.conftest import follow
from tests.saml.conftest import local
from tests.saml.conftest import posted_response
from tests.saml.conftest import sign_in
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron

ENTITY = "https://onelogin-sp.example.org/metadata"
HOST = "onelogin-sp.example.org"
ACS_PATH = "/saml/acs"


def onelogin_settings(idp_metadata: str, keys: SamlKeys) -> dict[str, Any]:
    pair = keys.active()
    settings = OneLogin_Saml2_IdPMetadataParser.merge_settings(
        {
            "strict": True,
            "sp": {
                "entityId": ENTITY,
                "assertionConsumerService": {
                    "url": f"https://{HOST}{ACS_PATH}",
                    "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
                },
                "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_PERSISTENT,
                "x509cert": pair.certificate_body(),
                "privateKey": pair.key_file.read_text(encoding="ascii"),
            },
            "security": {
                "authnRequestsSigned": True,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": True,
                "wantNameId": True,
                "requestedAuthnContext": False,
                "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
                "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
                "rejectDeprecatedAlgorithm": True,
            },
        },
        OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata),
    )
    return dict(settings)


def request_data(post: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "https": "on",
        "http_host": HOST,
        "script_name": ACS_PATH,
        "get_data": {},
        "post_data": post or {},
    }


def test_onelogin_sp_logs_patron_in(
    app: Flask,
    client: FlaskClient,
    clients_dir: Path,
    sp_keys: SamlKeys,
    register: Callable[..., None],
) -> None:
    idp_metadata = client.get("/saml/metadata").get_data(as_text=True)
    settings = onelogin_settings(idp_metadata, sp_keys)
    sp_metadata = OneLogin_Saml2_Settings(settings).get_sp_metadata()
    (clients_dir / "onelogin-sp.xml").write_bytes(
        sp_metadata if isinstance(sp_metadata, bytes) else sp_metadata.encode()
    )
    (clients_dir / "onelogin.toml").write_text(
        "\n".join(
            [
                'protocol = "saml"',
                f'entity_id = "{ENTITY}"',
                'name = "Vendor"',
                'metadata = "onelogin-sp.xml"',
                'attributes = ["pairwise-id", "eduPersonEntitlement", "displayName"]',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    register()  # also syncs the onelogin file
    patron = make_patron(name="図書 太郎")

    auth = OneLogin_Saml2_Auth(request_data(), settings)
    location = auth.login(return_to="https://onelogin-sp.example.org/after")
    request_id = auth.get_last_request_id()
    first = client.get(local(location))
    page = follow(client, sign_in(client, first, patron.card_number, DEFAULT_PASSWORD))
    action, fields = posted_response(page)
    assert action == f"https://{HOST}{ACS_PATH}"

    consumer = OneLogin_Saml2_Auth(request_data(fields), settings)
    consumer.process_response(request_id=request_id)
    assert consumer.get_errors() == [], consumer.get_last_error_reason()
    assert consumer.is_authenticated()
    assert consumer.get_nameid_format() == OneLogin_Saml2_Constants.NAMEID_PERSISTENT
    assert patron.card_number not in consumer.get_nameid()
    attributes = consumer.get_attributes()
    assert attributes["urn:oid:1.3.6.1.4.1.5923.1.1.1.7"] == [
        "urn:mace:dir:entitlement:common-lib-terms"
    ]
    assert attributes["urn:oid:2.16.840.1.113730.3.1.241"] == ["図書 太郎"]
    assert attributes["urn:oasis:names:tc:SAML:attribute:pairwise-id"] == [
        f"{consumer.get_nameid()}@localhost"
    ]
    assert fields["RelayState"] == "https://onelogin-sp.example.org/after"
