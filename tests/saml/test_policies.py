"""Temporary passwords, IdP-initiated login, cancelling, the session, attributes, metadata."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.sigver import security_context
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.saml.identity import CARD_NUMBER
from idp.saml.keys import SamlKeys
from tests.saml.conftest import SP_ACS
from tests.saml.conftest import SP_ENTITY
from tests.saml.conftest import follow
from tests.saml.conftest import idp_entity
from tests.saml.conftest import posted_response
from tests.saml.conftest import sign_in
from tests.saml.conftest import sp_config
from tests.saml.conftest import start_login
from tests.saml.conftest import write_sp_file
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token


def events() -> list[str]:
    return [row.event for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_temporary_password_with_deny_gets_no_assertion(
    app: Flask, client: FlaskClient, register: Callable[..., None], sp: Saml2Client
) -> None:
    register(temporary_password="deny")
    patron = make_patron(temporary=True)
    _, first = start_login(client, sp, idp_entity(app), BINDING_HTTP_REDIRECT)
    page = sign_in(client, first, patron.card_number, DEFAULT_PASSWORD)
    assert page.status_code == 403
    body = page.get_data(as_text=True)
    assert "SAMLResponse" not in body
    assert "仮パスワード" in body and "電子書籍サービス" in body
    assert "/password/change" in body
    assert "saml.assertion_issued" not in events()
    assert "login.refused" in events()


def test_temporary_password_with_change_goes_to_the_change_form(
    app: Flask, client: FlaskClient, register: Callable[..., None], sp: Saml2Client
) -> None:
    register(temporary_password="change")
    patron = make_patron(temporary=True)
    _, first = start_login(client, sp, idp_entity(app), BINDING_HTTP_REDIRECT)
    answer = sign_in(client, first, patron.card_number, DEFAULT_PASSWORD)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/password/change")
    assert "saml.assertion_issued" not in events()


@pytest.mark.parametrize("fields", [{"status": "suspended"}, {"expires_on": dt.date(2000, 1, 1)}])
def test_inactive_card_gets_no_assertion(
    app: Flask,
    client: FlaskClient,
    register: Callable[..., None],
    sp: Saml2Client,
    fields: dict[str, object],
) -> None:
    register()
    patron = make_patron(**fields)  # type: ignore[arg-type]
    _, first = start_login(client, sp, idp_entity(app), BINDING_HTTP_REDIRECT)
    page = sign_in(client, first, patron.card_number, DEFAULT_PASSWORD)
    assert page.status_code == 403
    assert "SAMLResponse" not in page.get_data(as_text=True)
    assert "saml.assertion_issued" not in events()


def test_signed_in_patron_is_answered_without_a_second_login(
    app: Flask, client: FlaskClient, register: Callable[..., None], sp: Saml2Client
) -> None:
    register()
    patron = make_patron()
    _, first = start_login(client, sp, idp_entity(app), BINDING_HTTP_REDIRECT)
    follow(client, sign_in(client, first, patron.card_number, DEFAULT_PASSWORD))
    request_id, again = start_login(client, sp, idp_entity(app), BINDING_HTTP_POST)
    assert again.status_code == 200
    _, fields = posted_response(again)
    answer = sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert answer.in_response_to == request_id
    assert events().count("login.ok") == 1


def test_cancel_sends_authn_failed_to_the_sp(
    app: Flask, client: FlaskClient, register: Callable[..., None], sp: Saml2Client
) -> None:
    register()
    _, first = start_login(client, sp, idp_entity(app), BINDING_HTTP_REDIRECT)
    location = first.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert "電子書籍サービス" in page
    rid = re.search(r"rid=([^&]+)", location)
    assert rid is not None
    cancelled = client.post(
        "/login/cancel", data={"rid": rid.group(1), "csrf_token": csrf_token(page)}
    )
    action, fields = posted_response(follow(client, cancelled))
    assert action == SP_ACS
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed" in xml
    assert "Assertion" not in xml.replace("saml:2.0:assertion", "")


def test_idp_initiated_login_is_off_by_default(
    client: FlaskClient, register: Callable[..., None]
) -> None:
    register()
    response = client.get("/saml/sso", query_string={"sp": SP_ENTITY})
    assert response.status_code == 400
    assert "SAMLResponse" not in response.get_data(as_text=True)


def test_idp_initiated_login_where_allowed(
    app: Flask, client: FlaskClient, register: Callable[..., None], sp_keys: SamlKeys
) -> None:
    register(idp_initiated=True)
    patron = make_patron()
    first = client.get("/saml/sso", query_string={"sp": SP_ENTITY, "RelayState": "/books"})
    page = follow(client, sign_in(client, first, patron.card_number, DEFAULT_PASSWORD))
    action, fields = posted_response(page)
    assert action == SP_ACS and fields["RelayState"] == "/books"
    metadata = client.get("/saml/metadata").get_data(as_text=True)
    config = sp_config(sp_keys, metadata)
    config.setattr("sp", "allow_unsolicited", True)
    config.allow_unsolicited = True
    answer = Saml2Client(config=config).parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST
    )
    assert answer is not None and not answer.in_response_to
    assert answer.get_identity()["eduPersonEntitlement"]


def test_card_number_and_name_only_where_allowed(
    app: Flask, client: FlaskClient, register: Callable[..., None], sp: Saml2Client
) -> None:
    register(attributes=["pairwise-id", "displayName", "libraryCardNumber"])
    patron = make_patron("0311112222", name="図書 花子")
    request_id, first = start_login(client, sp, idp_entity(app), BINDING_HTTP_REDIRECT)
    page = follow(client, sign_in(client, first, patron.card_number, DEFAULT_PASSWORD))
    _, fields = posted_response(page)
    answer = sp.parse_authn_request_response(
        fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    ava = answer.get_identity()
    # No standard name exists: pysaml2's SP has no map for it, so read the signed
    # assertion it verified.
    released = {
        attribute.name: [value.text for value in attribute.attribute_value]
        for statement in answer.assertion.attribute_statement
        for attribute in statement.attribute
    }
    assert released[CARD_NUMBER] == ["0311112222"]
    assert ava["displayName"] == ["図書 花子"]
    assert "eduPersonEntitlement" not in ava
    assert "0311112222" not in answer.name_id.text


def test_pairwise_name_id_differs_per_sp_and_is_stable(
    app: Flask, register: Callable[..., None]
) -> None:
    from idp.saml.identity import pairwise_value

    patron = make_patron()
    secret = str(app.config["SECRET_KEY"])
    one = pairwise_value(patron, SP_ENTITY, secret)
    assert one == pairwise_value(patron, SP_ENTITY, secret)
    assert one != pairwise_value(patron, "https://other.example.org/sp", secret)
    assert patron.card_number not in one


def test_metadata_is_signed_and_expires(app: Flask, client: FlaskClient) -> None:
    response = client.get("/saml/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    xml = response.get_data(as_text=True)
    valid_until = re.search(r'validUntil="([^"]+)"', xml)
    assert valid_until is not None
    until = dt.datetime.fromisoformat(valid_until.group(1).replace("Z", "+00:00"))
    assert dt.timedelta(days=6) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    assert 'WantAuthnRequestsSigned="true"' in xml
    pair = app.extensions["idp_saml"].keys.active()
    config = sp_config(app.extensions["idp_saml"].keys, None)
    checker = security_context(config)
    assert checker.verify_signature(
        xml, str(pair.cert_file), node_name="urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"
    )


def test_rotated_key_keeps_old_certificate_published(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    from idp.saml.keys import SamlKeys as Keys

    keys = Keys(tmp_path / "saml", "test")
    keys.ensure()
    app.extensions["idp_saml"].keys = keys
    before = keys.active().certificate_body()
    result = runner.invoke(args=["saml", "rotate-key"])
    assert result.exit_code == 0, result.output
    xml = client.get("/saml/metadata").get_data(as_text=True)
    assert before in xml and keys.active().certificate_body() in xml


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"attributes": ["mail"]}, "attributes may only name"),
        ({"temporary_password": "allow"}, "temporary_password"),
        ({"idp_initiated": "yes"}, "idp_initiated must be true or false"),
    ],
)
def test_bad_sp_files_stop_the_sync(
    runner: FlaskCliRunner,
    clients_dir: Path,
    sp_keys: SamlKeys,
    settings: dict[str, object],
    message: str,
) -> None:
    write_sp_file(clients_dir, sp_keys, **settings)
    result = runner.invoke(args=["clients", "sync"])
    assert result.exit_code == 1
    assert message in result.output
