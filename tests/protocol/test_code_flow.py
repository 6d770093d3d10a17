"""The authorization code flow end to end through the hosted login page."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import ISSUER
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.oidc import RelyingParty

SECRET = "portal-secret-0123456789-abcdefghijklmnop"


def test_code_flow_issues_verifiable_id_token_and_userinfo(client: FlaskClient) -> None:
    patron = make_patron("0300000001", name="図書館 太郎")
    rp = RelyingParty.for_client(client, make_client(), SECRET)

    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid profile library_card")
    response = rp.exchange(code)

    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    claims = rp.verify_id_token(tokens["id_token"], ISSUER)
    assert claims["sub"] == patron.subject
    assert "at_hash" in claims and "auth_time" in claims and "sid" in claims
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json() == {
        "sub": patron.subject,
        "name": "図書館 太郎",
        "card_number": "0300000001",
        "card_expires_on": "2099-12-31",
    }
