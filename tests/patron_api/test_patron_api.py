"""``POST /api/patrons/authenticate``: every reason, the claims, who may call it, the audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.client import Client
from idp.models.patron import Patron
from idp.services.accounts.self_service import change_password
from idp.services.accounts.subjects import subject_for
from idp.services.container import container
from tests.conftest import SECRET
from tests.patron_api.conftest import PATH
from tests.patron_api.conftest import VENDOR_IP
from tests.patron_api.conftest import Check
from tests.patron_api.conftest import basic
from tests.patron_api.conftest import fetch_token
from tests.patron_api.conftest import make_api_client
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.oidc import RelyingParty

TEMPORARY = "12345678"


def _answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.get_json()
    return body


def test_right_password_is_valid_with_the_clients_claims(
    check: Check, patron: Patron, api_client: Client
) -> None:
    body = _answer(check(patron.card_number, DEFAULT_PASSWORD))
    assert body["valid"] is True
    assert body["reason"] == "ok"
    # profile was granted: the name; email and the card number were not.
    assert body["claims"] == {"sub": subject_for(patron, api_client, SECRET), "name": "図書館 太郎"}
    assert body["claims"]["sub"] != patron.subject  # pairwise
    assert "retry_after" not in body


def test_full_width_card_number_and_password_are_the_same(check: Check, patron: Patron) -> None:
    # NFKC: "０３００－０００－００１" as typed on a Japanese phone keyboard.
    body = _answer(check("０３００－０００－００１", "ｈｏｎｙｏｍｕ４２"))
    assert body["reason"] == "ok"
    body = _answer(check("0300 000 001", DEFAULT_PASSWORD))
    assert body["reason"] == "ok"


@pytest.mark.parametrize(
    ("card", "password"),
    [("0300000001", "wrong-guess"), ("0399999999", DEFAULT_PASSWORD), ("12", "x")],
)
def test_wrong_password_unknown_and_malformed_cards_are_invalid_credentials(
    check: Check, patron: Patron, card: str, password: str
) -> None:
    body = _answer(check(card, password))
    assert body == {"valid": False, "reason": "invalid_credentials"}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"temporary": True}, "temporary_password"),
        ({"status": "suspended"}, "suspended"),
        ({"status": "lost"}, "lost"),
        ({"status": "withdrawn"}, "withdrawn"),
        ({"expires_on": dt.date(2020, 3, 31)}, "card_expired"),
    ],
)
def test_refusals_are_told_only_after_the_right_password(
    check: Check, app: Any, fields: dict[str, Any], reason: str
) -> None:
    card = "0300000077"
    make_patron(card, **fields)
    assert _answer(check(card, DEFAULT_PASSWORD)) == {"valid": False, "reason": reason}
    # A guesser learns nothing: the same wrong-password answer as any other card.
    assert _answer(check(card, "wrong-guess")) == {
        "valid": False,
        "reason": "invalid_credentials",
    }


def test_expired_temporary_password(check: Check, app: Any, now: dt.datetime) -> None:
    make_patron(
        "0300000078",
        password=TEMPORARY,
        temporary=True,
        temporary_password_expires_at=now - dt.timedelta(days=1),
    )
    body = _answer(check("0300000078", TEMPORARY))
    assert body == {"valid": False, "reason": "temporary_password_expired"}


def test_temporary_password_rule_matches_the_oidc_login(
    check: Check, client: FlaskClient, app: Any
) -> None:
    patron = make_patron("0300000079", password=TEMPORARY, temporary=True)
    vendor = make_client(
        "e-library",
        secret="e-library-secret-0123456789-abcdefghijk",
        first_party=True,  # no consent page in the way
        policy="deny",
        scopes=["openid"],
        grant_types=["authorization_code"],
    )
    rp = RelyingParty.for_client(client, vendor, "e-library-secret-0123456789-abcdefghijk")
    # Before the change: the API says temporary_password, the OIDC login issues nothing.
    assert _answer(check(patron.card_number, TEMPORARY))["reason"] == "temporary_password"
    refused = rp.login(rp.authorize("openid"), patron.card_number, TEMPORARY)
    assert refused.status_code == 403
    assert "仮パスワードではログインできません" in refused.get_data(as_text=True)
    # The patron chooses a password (in MyLibrary): both now accept it.
    change_password(patron, TEMPORARY, "yomu2468", "yomu2468", keep_sid=None)
    db.session.commit()  # the test is the face here
    body = _answer(check(patron.card_number, "yomu2468"))
    assert body["valid"] is True and body["reason"] == "ok"
    assert _answer(check(patron.card_number, TEMPORARY))["reason"] == "invalid_credentials"
    client.post("/logout", data={})  # a fresh browser session for the code flow
    assert rp.sign_in(patron.card_number, "yomu2468", scope="openid")


def test_pairwise_sub_differs_between_clients_and_public_sub_is_the_subject(
    client: FlaskClient, check: Check, patron: Patron, api_client: Client
) -> None:
    make_api_client("other-vendor-api")
    make_api_client("public-api", subject_type="public", scopes=["patron:authenticate"])
    first = _answer(check(patron.card_number, DEFAULT_PASSWORD))["claims"]["sub"]
    other_token = fetch_token(client, "other-vendor-api", "patron:authenticate")
    second = _answer(check(patron.card_number, DEFAULT_PASSWORD, token=other_token))
    assert second["claims"] == {"sub": second["claims"]["sub"]}  # no profile scope asked
    assert second["claims"]["sub"] != first
    public_token = fetch_token(client, "public-api", "patron:authenticate")
    third = _answer(check(patron.card_number, DEFAULT_PASSWORD, token=public_token))
    assert third["claims"] == {"sub": patron.subject}


def test_claims_follow_the_token_scope_and_the_registration(
    client: FlaskClient, check: Check, patron: Patron
) -> None:
    make_api_client("full-api", scopes=["patron:authenticate", "email", "library_card"])
    token = fetch_token(client, "full-api", "patron:authenticate email library_card profile")
    claims = _answer(check(patron.card_number, DEFAULT_PASSWORD, token=token))["claims"]
    # profile is not registered for this client: no name, whatever it asked for.
    assert set(claims) == {"sub", "email", "email_verified", "card_number", "card_expires_on"}
    assert claims["card_number"] == "0300000001"
    narrow = fetch_token(client, "full-api", "patron:authenticate")
    claims = _answer(check(patron.card_number, DEFAULT_PASSWORD, token=narrow))["claims"]
    assert set(claims) == {"sub"}


def test_no_token_is_401_with_a_challenge(client: FlaskClient, patron: Patron) -> None:
    response = client.post(PATH, json={"card_number": "0300000001", "password": "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    bad = client.post(
        PATH,
        json={"card_number": "0300000001", "password": "x"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert bad.status_code == 401
    assert bad.get_json()["error"] == "invalid_token"


def test_token_without_the_scope_is_403(client: FlaskClient, patron: Patron) -> None:
    # A desk client (card:verify only) cannot check passwords.
    make_api_client("desk", scopes=["card:verify"])
    token = fetch_token(client, "desk", "card:verify")
    response = client.post(
        PATH,
        json={"card_number": "0300000001", "password": DEFAULT_PASSWORD},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_scope_is_not_granted_to_clients_not_registered_for_it(
    client: FlaskClient, patron: Patron
) -> None:
    make_api_client("desk", scopes=["card:verify"])
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "patron:authenticate card:verify"},
        headers={"Authorization": basic("desk")},
    )
    assert response.status_code == 200
    assert response.get_json()["scope"] == "card:verify"
    answer = client.post(
        PATH,
        json={"card_number": "0300000001", "password": DEFAULT_PASSWORD},
        headers={"Authorization": f"Bearer {response.get_json()['access_token']}"},
    )
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "insufficient_scope"


def test_token_stops_working_when_the_registration_drops_the_scope(
    check: Check, patron: Patron, api_client: Client
) -> None:
    api_client.scopes = ["card:verify"]
    db.session.commit()
    response = check(patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_a_token_issued_for_a_patron_cannot_check_passwords(
    client: FlaskClient, patron: Patron
) -> None:
    # Even a client registered for both the code flow and the API: its patron-bound
    # tokens are refused, only its own client-credentials token works.
    both = make_client(
        "both",
        secret="both-secret-0123456789-abcdefghijklmnopq",
        scopes=["openid", "patron:authenticate"],
        grant_types=["authorization_code", "client_credentials"],
    )
    rp = RelyingParty.for_client(client, both, "both-secret-0123456789-abcdefghijklmnopq")
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid patron:authenticate")
    tokens = rp.exchange(code).get_json()
    response = client.post(
        PATH,
        json={"card_number": "0300000001", "password": DEFAULT_PASSWORD},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_every_check_is_audited_without_the_password(
    check: Check, patron: Patron, api_client: Client
) -> None:
    check(patron.card_number, DEFAULT_PASSWORD)
    check(patron.card_number, "wrong-guess", patron_ip="203.0.113.9")
    check("0399999999", "another-guess")
    rows = [
        row
        for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        if row.detail.get("channel") == "api"
    ]
    assert [r.detail["outcome"] for r in rows] == [
        "ok",
        "invalid_credentials",
        "invalid_credentials",
    ]
    assert {r.client_id for r in rows} == {"vendor-api"}
    assert {r.ip for r in rows} == {VENDOR_IP}
    assert [r.patron_id for r in rows] == [patron.id, patron.id, None]
    assert rows[1].detail["patron_ip"] == "203.0.113.9"
    everything = " ".join(
        f"{r.event} {r.detail} {r.user_agent}" for r in db.session.scalars(select(AuditEvent))
    )
    for secret in (DEFAULT_PASSWORD, "wrong-guess", "another-guess"):
        assert secret not in everything


def test_valid_check_records_the_login_time(check: Check, patron: Patron) -> None:
    assert patron.last_login_at is None
    _answer(check(patron.card_number, DEFAULT_PASSWORD))
    db.session.refresh(patron)
    assert patron.last_login_at == container().now()


def test_an_unknown_status_is_refused_as_suspended(check: Check, app: Any) -> None:
    make_patron("0300000080", status="banned")
    body = _answer(check("0300000080", DEFAULT_PASSWORD))
    assert body == {"valid": False, "reason": "suspended"}
