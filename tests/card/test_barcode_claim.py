"""GET /api/card/barcode: the signed barcode claim, verified as a relying party would."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.errors import ExpiredTokenError
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.models.consent import Consent
from idp.settings import app_settings
from tests.card.conftest import STEP
from tests.card.conftest import current_value
from tests.card.conftest import post_verify
from tests.conftest import ISSUER
from tests.conftest import PORTAL_SECRET
from tests.conftest import VENDOR_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import RelyingParty


def _token(app: Flask, client: Any, secret: str, patron: Any, scope: str) -> str:
    party = RelyingParty.for_client(app.test_client(), client, secret)
    code = party.sign_in(patron.card_number, DEFAULT_PASSWORD, scope=scope)
    response = party.exchange(code)
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


@pytest.fixture
def portal_token(app: Flask, portal: Any, patron: Any) -> str:
    return _token(app, portal, PORTAL_SECRET, patron, "openid library_card")


def _get(client: FlaskClient, token: str) -> Any:
    return client.get("/api/card/barcode", headers={"Authorization": f"Bearer {token}"})


def _verify(client: FlaskClient, body: str, audience: str, now: int | None = None) -> Any:
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(body, keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        now=now,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        nbf={"essential": True},
    )
    registry.validate(token.claims)
    return token


def test_claim_is_signed_with_the_current_key_and_verifies(
    client: FlaskClient, portal_token: str, patron: Any, aligned: Any
) -> None:
    response = _get(client, portal_token)
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "application/jwt"
    assert response.headers["Cache-Control"] == "no-store"
    token = _verify(client, body, "portal", now=int(aligned.now.timestamp()))
    jwks_kids = [k["kid"] for k in client.get("/jwks.json").get_json()["keys"]]
    assert token.header == {"alg": "RS256", "kid": jwks_kids[0], "typ": "card-barcode+jwt"}
    step_start = int(aligned.now.timestamp()) - 1
    assert token.claims == {
        "iss": ISSUER,
        "sub": patron.subject,
        "aud": "portal",
        "card_number": "0300000001",
        "card_expires_on": "2099-12-31",
        "barcode": current_value(patron.card_number, aligned.now),
        "symbology": "nw7",
        "iat": step_start + 1,
        "nbf": step_start,
        "exp": step_start + STEP,
    }


def test_claim_expires_at_the_end_of_the_step(
    client: FlaskClient, portal_token: str, aligned: Any
) -> None:
    body = _get(client, portal_token).get_data(as_text=True)
    now = int(aligned.now.timestamp())

    _verify(client, body, "portal", now=now + STEP - 2)
    with pytest.raises(ExpiredTokenError):
        _verify(client, body, "portal", now=now + STEP - 1)


def test_claim_is_not_valid_before_its_step(
    client: FlaskClient, portal_token: str, aligned: Any
) -> None:
    body = _get(client, portal_token).get_data(as_text=True)

    with pytest.raises(InvalidClaimError):
        _verify(client, body, "portal", now=int(aligned.now.timestamp()) - 2)


def test_claim_for_another_audience_is_refused(
    client: FlaskClient, portal_token: str, aligned: Any
) -> None:
    body = _get(client, portal_token).get_data(as_text=True)

    with pytest.raises(InvalidClaimError):
        _verify(client, body, "d-library", now=int(aligned.now.timestamp()))


def test_tampered_claim_fails_the_signature(client: FlaskClient, portal_token: str) -> None:
    header, payload, signature = _get(client, portal_token).get_data(as_text=True).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["card_number"] = "0300000002"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())

    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(
            f"{header}.{forged_payload}.{signature}", keys, algorithms=["RS256"]
        )


def test_the_barcode_in_the_claim_scans_once_at_the_desk(
    client: FlaskClient, portal_token: str, desk_token: str, aligned: Any
) -> None:
    body = _get(client, portal_token).get_data(as_text=True)
    barcode = _verify(client, body, "portal", now=int(aligned.now.timestamp())).claims["barcode"]

    assert post_verify(client, desk_token, barcode).get_json()["valid"] is True
    assert post_verify(client, desk_token, barcode).get_json()["reason"] == "replayed"


def test_a_new_claim_after_the_step_carries_the_next_code(
    client: FlaskClient, portal_token: str, patron: Any, aligned: Any
) -> None:
    first = _get(client, portal_token).get_data(as_text=True)
    aligned.advance(seconds=STEP)
    second = _get(client, portal_token).get_data(as_text=True)

    now = int(aligned.now.timestamp())
    claims = _verify(client, second, "portal", now=now).claims
    assert claims["barcode"] == current_value(patron.card_number, aligned.now)
    assert (
        claims["barcode"]
        != jwt.decode(
            first, KeySet.import_key_set(client.get("/jwks.json").get_json()), algorithms=["RS256"]
        ).claims["barcode"]
    )


def test_pairwise_client_sees_its_own_sub(
    app: Flask, client: FlaskClient, vendor: Any, patron: Any, aligned: Any
) -> None:
    db.session.add(Consent(patron_id=patron.id, client_id="vendor", scope="openid library_card"))
    db.session.commit()
    token = _token(app, vendor, VENDOR_SECRET, patron, "openid library_card")
    body = _get(client, token).get_data(as_text=True)
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()

    claims = _verify(client, body, "vendor", now=int(aligned.now.timestamp())).claims
    assert claims["sub"] == userinfo["sub"]
    assert claims["sub"] != patron.subject


def test_signed_with_the_new_key_after_rotation(
    app: Flask, client: FlaskClient, portal_token: str, aligned: Any, tmp_path: Any
) -> None:
    import shutil

    from idp.services.keys import KeyStore

    folder = tmp_path / "rotated-keys"
    shutil.copytree(app_settings(app).site.keys_dir, folder)
    store = KeyStore(folder)
    new_kid = store.rotate()
    app.extensions["idp"].keys = store

    body = _get(client, portal_token).get_data(as_text=True)

    token = _verify(client, body, "portal", now=int(aligned.now.timestamp()))
    assert token.header["kid"] == new_kid


def test_no_token_is_401(client: FlaskClient) -> None:
    response = client.get("/api/card/barcode")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_token_without_library_card_is_403(
    app: Flask, client: FlaskClient, portal: Any, patron: Any
) -> None:
    token = _token(app, portal, PORTAL_SECRET, patron, "openid profile")

    response = _get(client, token)

    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "suspended"}, "suspended"),
        ({"status": "lost"}, "lost"),
        ({"expires_on": dt.date(2020, 3, 31)}, "card_expired"),
        ({"is_temporary_password": True}, "temporary_password"),
    ],
)
def test_cards_that_cannot_be_shown_are_403_with_the_reason(
    client: FlaskClient, portal_token: str, patron: Any, change: dict[str, Any], reason: str
) -> None:
    for name, value in change.items():
        setattr(patron, name, value)
    db.session.commit()

    response = _get(client, portal_token)

    assert response.status_code == 403
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == "card_unavailable"
    assert body["reason"] == reason
    assert body["error_description"]


def test_revoked_token_is_401_even_for_a_suspended_card(
    client: FlaskClient, portal_token: str, patron: Any, clock: Any
) -> None:
    patron.status = "suspended"
    db.session.commit()
    clock.advance(hours=1)  # the access token has expired

    assert _get(client, portal_token).status_code == 401


def test_discovery_advertises_the_endpoint(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()

    assert metadata["library_card_barcode_endpoint"] == f"{ISSUER}/api/card/barcode"
