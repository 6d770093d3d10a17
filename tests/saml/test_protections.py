"""Each protection of the SSO endpoint, refused with a 400 page and an audit line."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.xmldsig import DIGEST_SHA256
from saml2.xmldsig import SIG_RSA_SHA256
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.saml.keys import SamlKeys
from tests.conftest import Clock
from tests.saml.conftest import SP_ENTITY
from tests.saml.conftest import idp_entity
from tests.saml.conftest import local
from tests.saml.conftest import sp_config
from tests.saml.conftest import start_login

SSO = "http://localhost/saml/sso"


def refused(response: TestResponse, reason: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "SAMLResponse" not in response.get_data(as_text=True)
    row = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "saml.request_refused")
    ).all()[-1]
    assert reason in row.detail["reason"], row.detail


def signed_post_request(sp: Saml2Client, **kwargs: object) -> tuple[str, str]:
    request_id, xml = sp.create_authn_request(
        SSO, sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **kwargs
    )
    return str(request_id), str(xml)


def post_xml(client: FlaskClient, xml: str) -> TestResponse:
    return client.post("/saml/sso", data={"SAMLRequest": base64.b64encode(xml.encode()).decode()})


@pytest.fixture(autouse=True)
def _registered(register: Callable[..., None]) -> None:
    register()


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_unsigned_request_is_refused(
    app: Flask, client: FlaskClient, sp_keys: SamlKeys, binding: str
) -> None:
    metadata = client.get("/saml/metadata").get_data(as_text=True)
    unsigned = Saml2Client(config=sp_config(sp_keys, metadata, sign=False))
    _, response = start_login(client, unsigned, idp_entity(app), binding)
    refused(response, "not signed correctly")


def test_unsigned_request_is_accepted_where_the_sp_file_allows(
    app: Flask, client: FlaskClient, sp_keys: SamlKeys, register: Callable[..., None]
) -> None:
    register(unsigned_requests=True)
    metadata = client.get("/saml/metadata").get_data(as_text=True)
    unsigned = Saml2Client(config=sp_config(sp_keys, metadata, sign=False))
    _, response = start_login(client, unsigned, idp_entity(app), BINDING_HTTP_REDIRECT)
    assert response.status_code == 302
    assert "/login?rid=" in response.headers["Location"]


def test_redirect_request_changed_after_signing_is_refused(
    app: Flask, client: FlaskClient, sp: Saml2Client
) -> None:
    _, info = sp.prepare_for_authenticate(
        entityid=idp_entity(app),
        binding=BINDING_HTTP_REDIRECT,
        relay_state="rs",
        sigalg=SIG_RSA_SHA256,
    )
    location = dict(info["headers"])["Location"]
    query = dict(parse_qsl(urlsplit(location).query))
    query["RelayState"] = "https://attacker.example/"
    refused(client.get("/saml/sso?" + urlencode(query)), "not signed correctly")


def test_post_request_changed_after_signing_is_refused(
    client: FlaskClient, sp: Saml2Client
) -> None:
    _, xml = signed_post_request(sp)
    tampered = xml.replace('Version="2.0"', 'Version="2.0" ForceAuthn="true"', 1)
    assert tampered != xml
    refused(post_xml(client, tampered), "not signed correctly")


def test_signature_wrapping_is_refused(client: FlaskClient, sp: Saml2Client) -> None:
    """XSW: the signed request hidden in Extensions, an unsigned one with its own ID
    and ACS around it, the signature moved to the outer element."""
    request_id, xml = signed_post_request(sp)
    signature = re.search(r"<(ns\d):Signature.*?</ns\d:Signature>", xml, re.S)
    assert signature is not None
    dsig = f'xmlns:{signature.group(1)}="http://www.w3.org/2000/09/xmldsig#" '
    inner = xml.split("?>", 1)[-1].replace(signature.group(0), "")
    instant = re.search(r'IssueInstant="([^"]+)"', xml)
    assert instant is not None
    outer = (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="evil-request" Version="2.0" '
        f"{dsig}"
        f'IssueInstant="{instant.group(1)}" '
        f'Destination="{SSO}" '
        'AssertionConsumerServiceURL="https://attacker.example/acs" '
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
        f"<saml:Issuer>{SP_ENTITY}</saml:Issuer>"
        f"{signature.group(0)}"
        f"<samlp:Extensions>{inner}</samlp:Extensions>"
        "</samlp:AuthnRequest>"
    )
    assert request_id in outer
    refused(post_xml(client, outer), "not signed correctly")


def test_external_entities_are_refused(client: FlaskClient, sp: Saml2Client) -> None:
    _, xml = signed_post_request(sp)
    body = xml.split("?>", 1)[-1]
    evil = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + body.replace(f">{SP_ENTITY}<", f">{SP_ENTITY}&x;<", 1)
    )
    response = post_xml(client, evil)
    refused(response, "cannot be read")
    assert "root:" not in response.get_data(as_text=True)


def test_entity_expansion_is_refused(client: FlaskClient) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0" '
        'IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>&b;</saml:Issuer></samlp:AuthnRequest>'
    )
    refused(post_xml(client, bomb), "cannot be read")


def test_comment_in_issuer_does_not_truncate_it(client: FlaskClient, sp: Saml2Client) -> None:
    """A comment splits the Issuer's text; a parser reading only the first text node
    would take the registered entity ID, ours reads all of it (and exclusive c14n
    without comments keeps the signature valid, so the signature alone would not tell)."""
    _, xml = signed_post_request(sp)
    split = xml.replace(f">{SP_ENTITY}<", f">{SP_ENTITY}<!-- -->.attacker.example<", 1)
    assert split != xml
    refused(post_xml(client, split), "not registered")


def test_replayed_request_is_refused(app: Flask, client: FlaskClient, sp: Saml2Client) -> None:
    _, info = sp.prepare_for_authenticate(
        entityid=idp_entity(app), binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256
    )
    url = local(dict(info["headers"])["Location"])
    assert client.get(url).status_code == 302
    refused(client.get(url), "already used")


def test_acs_not_in_metadata_is_refused(client: FlaskClient, sp: Saml2Client) -> None:
    _, xml = signed_post_request(sp, assertion_consumer_service_url="https://attacker.example/acs")
    refused(post_xml(client, xml), "assertion consumer service")


def test_old_request_is_refused(
    app: Flask, client: FlaskClient, sp: Saml2Client, clock: Clock
) -> None:
    _, xml = signed_post_request(sp)
    clock.advance(minutes=6)
    refused(post_xml(client, xml), "too old")


def test_unknown_sp_is_refused(app: Flask, client: FlaskClient, sp_keys: SamlKeys) -> None:
    metadata = client.get("/saml/metadata").get_data(as_text=True)
    stranger = Saml2Client(
        config=sp_config(sp_keys, metadata, entity="https://stranger.example.org/sp")
    )
    _, response = start_login(client, stranger, idp_entity(app), BINDING_HTTP_REDIRECT)
    refused(response, "not registered")


def test_garbage_is_refused(client: FlaskClient) -> None:
    refused(client.get("/saml/sso?SAMLRequest=%%%not-base64"), "cannot be read")
    refused(client.post("/saml/sso", data={"SAMLRequest": "AAAA"}), "cannot be read")
    refused(client.get("/saml/sso"), "No SAMLRequest")


def test_resume_without_a_sign_in_is_refused(client: FlaskClient) -> None:
    forged = {
        "protocol": "saml",
        "sp": SP_ENTITY,
        "request_id": "x",
        "acs": "https://sp.example.org/Shibboleth.sso/SAML2/POST",
        "relay_state": "",
        "force": "",
    }
    refused(client.get("/saml/resume?" + urlencode(forged)), "did not happen here")
