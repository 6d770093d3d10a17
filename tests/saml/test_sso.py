"""SP-initiated login with pysaml2's own SP client, through the hosted login page."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from tests.saml.conftest import SP_ACS
from tests.saml.conftest import follow
from tests.saml.conftest import idp_entity
from tests.saml.conftest import posted_response
from tests.saml.conftest import sign_in
from tests.saml.conftest import start_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron

COMMON_LIB_TERMS = "urn:mace:dir:entitlement:common-lib-terms"


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_pysaml2_sp_logs_patron_in(
    app: Flask,
    client: FlaskClient,
    register: Callable[..., None],
    sp: Saml2Client,
    binding: str,
) -> None:
    register()
    patron = make_patron("0312345678", name="図書 花子")
    request_id, first = start_login(client, sp, idp_entity(app), binding)
    page = follow(client, sign_in(client, first, patron.card_number, DEFAULT_PASSWORD))
    action, fields = posted_response(page)
    assert action == SP_ACS
    assert fields["RelayState"] == "rs-1"
    # pysaml2 checks the signatures (response and assertion) against the IdP's metadata,
    # InResponseTo, the audience, the recipient and the validity window.
    answer = sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert answer is not None
    assert answer.in_response_to == request_id
    assert answer.assertion.signature is not None
    assert answer.response.signature is not None
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert (
        xml.count('SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"')
        == 2
    )
    assert "rsa-sha1" not in xml and "xmldsig#sha1" not in xml
    name_id = answer.name_id
    assert name_id.format == NAMEID_FORMAT_PERSISTENT
    assert patron.card_number not in name_id.text
    assert len(name_id.text) == 64
    ava = answer.get_identity()
    assert ava["eduPersonEntitlement"] == [COMMON_LIB_TERMS]
    assert ava["eduPersonScopedAffiliation"] == ["member@localhost", "library-walk-in@localhost"]
    assert ava["pairwise-id"] == [f"{name_id.text}@localhost"]
    # Not allowed by the SP file: the card number and the name.
    assert "libraryCardNumber" not in ava and "displayName" not in ava
    events = [row.event for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "login.ok" in events and events[-1] == "saml.assertion_issued"
