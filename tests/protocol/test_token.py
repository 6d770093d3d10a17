"""Token endpoint: code exchange, single use, PKCE, client auth, refresh rotation."""

from __future__ import annotations

from typing import Any

import pytest

from idp.extensions import db
from idp.models.token import Token
from tests.conftest import ISSUER
from tests.support.factories import DEFAULT_PASSWORD


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_code_exchange_returns_bearer_tokens(rp: Any, patron: Any) -> None:
    response = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD))
    body = response.get_json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert "refresh_token" not in body  # no offline_access requested
    assert response.headers["Pragma"] == "no-cache"


def test_tokens_are_stored_only_as_hashes(rp: Any, patron: Any) -> None:
    body = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    row = db.session.scalars(db.select(Token)).one()
    assert body["access_token"] not in (row.access_token_hash, row.refresh_token_hash)


def test_reused_code_is_refused_and_revokes_its_tokens(rp: Any, patron: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    first = rp.exchange(code).get_json()
    assert rp.browser.get("/userinfo", headers=_bearer(first["access_token"])).status_code == 200

    again = rp.exchange(code)

    assert again.status_code == 400
    assert again.get_json() == {
        "error": "invalid_grant",
        "error_description": "Invalid 'code' in request.",
    }
    assert rp.browser.get("/userinfo", headers=_bearer(first["access_token"])).status_code == 401


def test_expired_code_is_refused(rp: Any, patron: Any, clock: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(seconds=61)
    assert rp.exchange(code).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "status", "error", "description"),
    [
        ({"code_verifier": None}, 400, "invalid_request", "Missing 'code_verifier'"),
        ({"code_verifier": "x" * 43}, 400, "invalid_grant", "Code challenge failed."),
        ({"code_verifier": "bad"}, 400, "invalid_request", "Invalid 'code_verifier'"),
        (
            {"redirect_uri": "https://portal.example.org/other"},
            400,
            "invalid_grant",
            "Invalid 'redirect_uri' in request.",
        ),
        ({"code": "not-a-code"}, 400, "invalid_grant", "Invalid 'code' in request."),
        ({"code": None}, 400, "invalid_request", "Missing 'code' in request."),
    ],
)
def test_bad_code_exchange_is_refused(
    rp: Any,
    patron: Any,
    overrides: dict[str, str | None],
    status: int,
    error: str,
    description: str,
) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    response = rp.exchange(code, **overrides)
    assert response.status_code == status
    assert response.get_json() == {"error": error, "error_description": description}


def test_wrong_client_secret_is_invalid_client(rp: Any, patron: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    response = rp.exchange(code, client_secret="wrong-secret-0123456789-abcdefghijklmnop")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    # The code was not burnt by a failed client authentication.
    assert rp.exchange(code).status_code == 200


def test_code_of_another_client_is_refused(rp: Any, vendor_rp: Any, patron: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    vendor_rp.verifier = rp.verifier
    response = vendor_rp.exchange(code, redirect_uri=rp.redirect_uri)
    assert response.get_json()["error"] == "invalid_grant"


def test_unsupported_grant_type(rp: Any) -> None:
    response = rp.token_request({"grant_type": "password", "username": "x", "password": "y"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_missing_grant_type(rp: Any) -> None:
    response = rp.token_request({})
    assert response.status_code == 400
    assert response.get_json()["error"] in {"unsupported_grant_type", "invalid_request"}


def test_unknown_client_is_invalid_client(client: Any) -> None:
    response = client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def _offline(rp: Any, patron: Any) -> dict[str, Any]:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    body: dict[str, Any] = rp.exchange(code).get_json()
    assert "refresh_token" in body
    return body


def test_refresh_rotates_the_refresh_token(rp: Any, patron: Any) -> None:
    first = _offline(rp, patron)
    response = rp.refresh(first["refresh_token"])
    second = response.get_json()
    assert response.status_code == 200
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "openid offline_access"
    assert rp.browser.get("/userinfo", headers=_bearer(second["access_token"])).status_code == 200


def test_replayed_refresh_token_revokes_the_family(rp: Any, patron: Any, clock: Any) -> None:
    first = _offline(rp, patron)
    second = rp.refresh(first["refresh_token"]).get_json()
    clock.advance(seconds=6)  # past the retry grace (tests/protocol/test_refresh_grace.py)

    replay = rp.refresh(first["refresh_token"])

    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert rp.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert rp.browser.get("/userinfo", headers=_bearer(second["access_token"])).status_code == 401


def test_refresh_refused_once_the_password_is_temporary_again(rp: Any, patron: Any) -> None:
    first = _offline(rp, patron)
    patron.is_temporary_password = True
    db.session.commit()
    response = rp.refresh(first["refresh_token"])
    assert response.get_json()["error"] == "invalid_grant"
    assert rp.browser.get("/userinfo", headers=_bearer(first["access_token"])).status_code == 401


def test_code_refused_when_card_suspended_before_exchange(rp: Any, patron: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    patron.status = "suspended"
    db.session.commit()
    assert rp.exchange(code).get_json() == {
        "error": "invalid_grant",
        "error_description": "The patron may not sign in at this time.",
    }


def test_refresh_token_of_another_client_is_refused(rp: Any, vendor_rp: Any, patron: Any) -> None:
    first = _offline(rp, patron)
    assert vendor_rp.refresh(first["refresh_token"]).status_code in {400, 401}


def test_public_client_uses_pkce_without_secret(client: Any, patron: Any) -> None:
    from tests.support.factories import make_client
    from tests.support.oidc import RelyingParty

    public = make_client("kiosk", secret=None, auth_method="none")
    rp = RelyingParty.for_client(client, public, None)
    response = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD))
    assert response.status_code == 200
    rp.verify_id_token(response.get_json()["id_token"], ISSUER)
