"""Device Authorization Grant (RFC 8628): the code pair, the polls and their errors."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.device import DeviceAuthorization
from idp.models.token import Token
from idp.services.device import USER_CODE_ALPHABET
from tests.conftest import ISSUER
from tests.device.conftest import Device
from tests.device.conftest import approve
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client


def test_discovery_names_the_endpoint_and_the_grant(client: FlaskClient) -> None:
    body = client.get("/.well-known/openid-configuration").get_json()
    assert body["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
    assert "urn:ietf:params:oauth:grant-type:device_code" in body["grant_types_supported"]


def test_code_pair_is_readable_short_lived_and_stored_as_a_hash(device: Device) -> None:
    response = device.start()
    body = response.get_json()
    assert response.status_code == 200, body
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(
        f"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}", body["user_code"]
    )
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={body['user_code']}"
    assert body["expires_in"] == 600
    assert body["interval"] == 5
    row = db.session.scalars(select(DeviceAuthorization)).one()
    assert body["device_code"] not in row.device_code_hash
    assert row.user_code == body["user_code"].replace("-", "")
    assert row.scope == "openid profile"


def test_polling_device_gets_tokens_after_the_patron_approves(
    device: Device, client: FlaskClient, patron: Any, clock: Any
) -> None:
    body = device.start("openid profile offline_access").get_json()
    pending = device.poll(body["device_code"])
    assert pending.status_code == 400
    assert pending.get_json()["error"] == "authorization_pending"

    done = approve(client, body["user_code"].lower(), patron.card_number, DEFAULT_PASSWORD)
    assert done.status_code == 200
    assert "館内キオスク" in done.get_data(as_text=True)

    clock.advance(seconds=5)
    tokens = device.poll(body["device_code"])
    assert tokens.status_code == 200, tokens.get_json()
    issued = tokens.get_json()
    assert issued["token_type"] == "Bearer"
    assert issued["refresh_token"]
    info = device.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert info.status_code == 200
    assert info.get_json()["name"] == "図書館 太郎"
    # Single use: the same device code gives nothing more.
    again = device.poll(body["device_code"])
    assert again.get_json()["error"] == "invalid_grant"
    assert db.session.scalars(select(Token)).one().family_id.startswith("device-")
    events = set(db.session.scalars(select(AuditEvent.event)))
    assert {"device.requested", "device.approved", "token.issued"} <= events
    # The refresh token rotates as any other.
    refreshed = device.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=device._auth({})[1],
    )
    assert refreshed.status_code == 200, refreshed.get_json()


def test_polling_faster_than_the_interval_is_told_to_slow_down(device: Device, clock: Any) -> None:
    code = device.start().get_json()["device_code"]
    assert device.poll(code).get_json()["error"] == "authorization_pending"
    clock.advance(seconds=2)
    assert device.poll(code).get_json()["error"] == "slow_down"
    # The interval grew by 5 s: 6 s later is still too fast, 10 s later is not.
    clock.advance(seconds=6)
    assert device.poll(code).get_json()["error"] == "slow_down"
    clock.advance(seconds=15)
    assert device.poll(code).get_json()["error"] == "authorization_pending"


def test_denied_request_answers_access_denied(
    device: Device, client: FlaskClient, patron: Any
) -> None:
    body = device.start().get_json()
    done = approve(client, body["user_code"], patron.card_number, DEFAULT_PASSWORD, allow=False)
    assert done.status_code == 200
    response = device.poll(body["device_code"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "access_denied"


def test_expired_device_code_answers_expired_token(
    device: Device, client: FlaskClient, patron: Any, clock: Any
) -> None:
    body = device.start().get_json()
    clock.advance(seconds=601)
    assert device.poll(body["device_code"]).get_json()["error"] == "expired_token"
    # Nor can the patron approve it any more.
    page = client.get("/device")
    from tests.support.oidc import csrf_token

    entered = client.post(
        "/device",
        data={
            "user_code": body["user_code"],
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert entered.status_code == 400


def test_unknown_device_code_and_other_clients_code_are_refused(device: Device, app: Any) -> None:
    assert device.poll("not-a-device-code").get_json()["error"] == "invalid_request"
    make_client(
        "tv",
        secret="tv-secret-0123456789-abcdefghijklmnopqrstu",
        grant_types=["urn:ietf:params:oauth:grant-type:device_code"],
    )
    other = Device(device.http, "tv", "tv-secret-0123456789-abcdefghijklmnopqrstu")
    code = device.start().get_json()["device_code"]
    assert other.poll(code).get_json()["error"] == "unauthorized_client"


def test_client_without_the_grant_cannot_ask_or_poll(app: Any, rp: Any) -> None:
    web = Device(rp.browser, "portal", rp.secret)
    response = web.start()
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"
    assert web.poll("anything").get_json()["error"] == "unauthorized_client"


def test_bad_client_credentials_are_refused(device: Device) -> None:
    wrong = Device(device.http, "kiosk", "wrong-secret-0123456789-abcdefghijklmnop")
    response = wrong.start()
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_public_device_client_polls_with_its_client_id(
    app: Any, client: FlaskClient, patron: Any, clock: Any
) -> None:
    make_client(
        "reader",
        secret=None,
        auth_method="none",
        grant_types=["urn:ietf:params:oauth:grant-type:device_code"],
    )
    reader = Device(app.test_client(), "reader", None)
    body = reader.start("openid").get_json()
    approve(client, body["user_code"], patron.card_number, DEFAULT_PASSWORD)
    response = reader.poll(body["device_code"])
    assert response.status_code == 200, response.get_json()
    assert "refresh_token" not in response.get_json()
