"""POST /api/card/verify: the desk's check of a scanned code (SPEC §5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.card_code import UsedCardCode
from tests.card.conftest import DESK_SECRET
from tests.card.conftest import STEP
from tests.card.conftest import client_credentials_token
from tests.card.conftest import current_value
from tests.card.conftest import post_verify
from tests.rebuild import rebuild_limiter
from tests.support.factories import change_settings
from tests.support.factories import make_client
from tests.support.factories import make_patron


def _answer(client: FlaskClient, token: str, code: Any) -> dict[str, Any]:
    response = post_verify(client, token, code)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.get_json()
    return body


def test_a_code_is_valid_once_then_replayed(
    replay_backend: str, client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    value = current_value(patron.card_number, aligned.now)

    first = _answer(client, desk_token, value)
    second = _answer(client, desk_token, value)

    assert first == {
        "valid": True,
        "card_number": patron.card_number,
        "status": "active",
        "expires_on": "2099-12-31",
    }
    assert second == {"valid": False, "reason": "replayed"}


def test_replay_memory_is_where_the_configuration_says(
    replay_backend: str, client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    _answer(client, desk_token, current_value(patron.card_number, aligned.now))

    rows = list(db.session.scalars(select(UsedCardCode)))
    assert len(rows) == (1 if replay_backend == "database" else 0)
    # The table holds an HMAC, never the card number.
    assert all(patron.card_number not in row.key for row in rows)


def test_previous_step_is_accepted_older_is_expired(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    shown_at = aligned.now
    previous = current_value(patron.card_number, shown_at)
    older = current_value(patron.card_number, shown_at - dt.timedelta(seconds=STEP))

    aligned.advance(seconds=STEP)  # the desk's clock is one step ahead of the phone

    assert _answer(client, desk_token, previous)["valid"] is True
    assert _answer(client, desk_token, older) == {"valid": False, "reason": "expired_code"}


def test_step_boundaries_by_the_second(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    step_start = aligned.now - dt.timedelta(seconds=1)
    value = current_value(patron.card_number, step_start)
    # Last second of the step after next: still the previous step, accepted.
    aligned.now = step_start + dt.timedelta(seconds=2 * STEP - 1)
    assert current_value(patron.card_number, aligned.now) != value
    assert _answer(client, desk_token, value)["valid"] is True
    # The code is used up for as long as any desk would accept it.
    other = current_value(patron.card_number, step_start + dt.timedelta(seconds=STEP))
    aligned.now = step_start + dt.timedelta(seconds=2 * STEP)
    assert _answer(client, desk_token, value) == {"valid": False, "reason": "expired_code"}
    assert _answer(client, desk_token, other)["valid"] is True


def test_a_code_from_the_future_is_refused(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    future = current_value(patron.card_number, aligned.now + dt.timedelta(seconds=STEP))

    assert _answer(client, desk_token, future) == {"valid": False, "reason": "expired_code"}


@pytest.mark.parametrize(
    "frame",
    [
        "A{}A",  # scanner transmits NW-7 start/stop
        "B{}D",
        "c{}c",
        "{}\r\n",  # keyboard-wedge scanner adds Enter
        " {} ",
    ],
)
def test_start_stop_letters_and_whitespace_are_accepted(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any, frame: str
) -> None:
    value = current_value(patron.card_number, aligned.now)

    assert _answer(client, desk_token, frame.format(value))["valid"] is True


def test_full_width_digits_are_normalised(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    value = current_value(patron.card_number, aligned.now)
    full_width = "Ａ" + "".join(chr(ord(c) + 0xFEE0) for c in value) + "Ａ"

    assert _answer(client, desk_token, full_width)["valid"] is True


@pytest.mark.parametrize(
    "code",
    [
        "",
        "123456",
        "03000000０1x123456",
        "0300000001-123456",
        "A0300000001123456",
        "9" * 300,
        "٣" * 16,
    ],
)
def test_malformed_codes(client: FlaskClient, desk_token: str, patron: Any, code: str) -> None:
    assert _answer(client, desk_token, code) == {"valid": False, "reason": "malformed"}


def test_unknown_card(client: FlaskClient, desk_token: str, patron: Any) -> None:
    assert _answer(client, desk_token, "0399999999123456") == {"valid": False, "reason": "unknown"}


def test_a_wrong_code_for_a_real_card_is_expired_code(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    value = current_value(patron.card_number, aligned.now)
    wrong = value[:-6] + f"{(int(value[-6:]) + 1) % 1_000_000:06d}"

    assert _answer(client, desk_token, wrong) == {"valid": False, "reason": "expired_code"}


@pytest.mark.parametrize("status", ["suspended", "lost", "withdrawn"])
def test_cards_that_cannot_be_used_say_why(
    client: FlaskClient, desk_token: str, aligned: Any, status: str
) -> None:
    holder = make_patron("0300000077", status=status)

    answer = _answer(client, desk_token, current_value(holder.card_number, aligned.now))

    assert answer == {
        "valid": False,
        "reason": status,
        "card_number": "0300000077",
        "status": status,
        "expires_on": "2099-12-31",
    }


def test_expired_card(client: FlaskClient, desk_token: str, aligned: Any) -> None:
    holder = make_patron("0300000078", expires_on=dt.date(2020, 3, 31))

    answer = _answer(client, desk_token, current_value(holder.card_number, aligned.now))

    assert answer["valid"] is False
    assert answer["reason"] == "card_expired"
    assert answer["expires_on"] == "2020-03-31"


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({"data": "{not json", "content_type": "application/json"}, "JSON object"),
        ({"json": ["0300000001123456"]}, "JSON object"),
        ({"json": {}}, "'code' member is required"),
        ({"json": {"code": None}}, "'code' member is required"),
        ({"json": {"code": 300000001123456}}, "must be a string"),
        ({"json": {"code": ["0300000001123456"]}}, "must be a string"),
        ({"data": "code=0300000001123456"}, "JSON object"),
    ],
)
def test_bad_requests_are_400_invalid_request(
    client: FlaskClient, desk_token: str, kwargs: dict[str, Any], description: str
) -> None:
    response = client.post(
        "/api/card/verify", headers={"Authorization": f"Bearer {desk_token}"}, **kwargs
    )

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert description in body["error_description"]


def test_no_token_is_401_with_a_challenge(client: FlaskClient) -> None:
    response = client.post("/api/card/verify", json={"code": "0300000001123456"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert response.get_json()["error"] == "invalid_token"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event.like("card.%"))).one()
    assert (event.event, event.detail["status"], event.client_id) == (
        "card.unauthorized",
        401,
        None,
    )


def test_a_flood_of_bad_tokens_is_limited_per_address(app: Flask, client: FlaskClient) -> None:
    change_settings(app, IDP_CARD_VERIFY_IP_PER_MINUTE=2)
    rebuild_limiter(app)

    statuses = [post_verify(client, "guess", "0300000001123456").status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_invalid_token_is_401(client: FlaskClient) -> None:
    response = post_verify(client, "not-a-token", "0300000001123456")

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_token_is_401(client: FlaskClient, desk_token: str, clock: Any) -> None:
    clock.advance(hours=1)

    assert post_verify(client, desk_token, "0300000001123456").status_code == 401


def test_token_without_card_verify_is_403(client: FlaskClient, app: Flask) -> None:
    make_client(
        "sip-gateway",
        secret=DESK_SECRET,
        scopes=["patron:authenticate"],
        grant_types=["client_credentials"],
    )
    token = client_credentials_token(client, "sip-gateway", DESK_SECRET, "patron:authenticate")

    response = post_verify(client, token, "0300000001123456")

    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_too_many_checks_are_429_with_retry_after(
    app: Flask, client: FlaskClient, desk_token: str, patron: Any
) -> None:
    change_settings(app, IDP_CARD_VERIFY_IP_PER_MINUTE=3)
    rebuild_limiter(app)  # rules are read when it is built
    answers = [post_verify(client, desk_token, "0399999999123456") for _ in range(3)]
    refused = post_verify(client, desk_token, "0399999999123456")

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"] == "too_many_requests"
    # Another address of the same desk client goes on.
    assert post_verify(client, desk_token, "0399999999123456", ip="192.0.2.51").status_code == 200


def test_failures_per_client_are_limited(
    app: Flask, client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    change_settings(app, IDP_CARD_VERIFY_FAILURES_PER_DAY=2)
    rebuild_limiter(app)
    for _ in range(2):
        assert _answer(client, desk_token, "0399999999123456")["reason"] == "unknown"

    response = post_verify(client, desk_token, current_value(patron.card_number, aligned.now))

    assert response.status_code == 429
    assert post_verify(client, desk_token, "x", ip="198.51.100.9").status_code == 429


def test_every_call_is_audited_without_the_code(
    client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    value = current_value(patron.card_number, aligned.now)
    _answer(client, desk_token, value)
    _answer(client, desk_token, value)
    _answer(client, desk_token, "nonsense")
    post_verify(client, desk_token, 12)

    rows = list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.event.like("card.%")).order_by(AuditEvent.id)
        )
    )
    assert [(r.event, r.detail.get("reason")) for r in rows] == [
        ("card.verified", None),
        ("card.refused", "replayed"),
        ("card.refused", "malformed"),
        ("card.refused", "invalid_request"),
    ]
    assert {r.client_id for r in rows} == {"circulation-desk"}
    assert rows[0].patron_id == patron.id
    assert rows[0].ip == "192.0.2.50"
    assert all(value not in str(r.detail) and value[-6:] not in str(r.detail) for r in rows)


def test_a_patron_token_cannot_verify(app: Flask, client: FlaskClient) -> None:
    from tests.conftest import PORTAL_SECRET
    from tests.support.factories import DEFAULT_PASSWORD
    from tests.support.oidc import RelyingParty

    holder = make_patron("0300000079")
    staffish = make_client("staff-portal", scopes=["openid", "card:verify"], secret=PORTAL_SECRET)
    party = RelyingParty.for_client(app.test_client(), staffish, PORTAL_SECRET)
    code = party.sign_in(holder.card_number, DEFAULT_PASSWORD, scope="openid card:verify")
    token = party.exchange(code).get_json()["access_token"]

    response = post_verify(client, token, "0300000079123456")

    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
