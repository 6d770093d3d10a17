"""Refresh rotation with a retry grace: a client whose answer was lost may present the
previous refresh token once more, shortly after, if the new one was never used
(``IDP_REFRESH_REUSE_GRACE``); outside that, reuse revokes the whole family. And
introspection of refresh tokens (RFC 7662): a rotated one is not active."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from idp.extensions import db
from idp.models.audit import AuditEvent
from tests.support.factories import DEFAULT_PASSWORD


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _offline(rp: Any, patron: Any) -> dict[str, Any]:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    body: dict[str, Any] = rp.exchange(code).get_json()
    assert "refresh_token" in body
    return body


def _events(name: str) -> int:
    return len(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == name)).all())


def _works(rp: Any, tokens: dict[str, Any]) -> bool:
    return bool(
        rp.browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200
    )


def test_a_retry_within_the_grace_gets_a_new_pair_and_ends_the_lost_one(
    rp: Any, patron: Any, clock: Any
) -> None:
    first = _offline(rp, patron)
    lost = rp.refresh(first["refresh_token"]).get_json()  # the answer never arrives
    clock.advance(seconds=4)

    retry = rp.refresh(first["refresh_token"])

    assert retry.status_code == 200
    again = retry.get_json()
    assert again["refresh_token"] not in {first["refresh_token"], lost["refresh_token"]}
    assert _works(rp, again)
    assert not _works(rp, lost)
    assert rp.refresh(lost["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert rp.refresh(again["refresh_token"]).status_code == 200
    assert _events("refresh.retried") == 1


def test_only_one_retry_is_allowed(rp: Any, patron: Any) -> None:
    first = _offline(rp, patron)
    rp.refresh(first["refresh_token"])
    retry = rp.refresh(first["refresh_token"]).get_json()

    second_retry = rp.refresh(first["refresh_token"])

    assert second_retry.get_json()["error"] == "invalid_grant"
    assert not _works(rp, retry)
    assert rp.refresh(retry["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _events("refresh.reused") == 1


def test_reuse_after_the_grace_revokes_the_family(rp: Any, patron: Any, clock: Any) -> None:
    first = _offline(rp, patron)
    second = rp.refresh(first["refresh_token"]).get_json()
    clock.advance(seconds=6)  # the default grace is 5 s

    replay = rp.refresh(first["refresh_token"])

    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert rp.refresh(second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert not _works(rp, second)
    assert _events("refresh.reused") == 1


def test_reuse_after_the_new_token_was_used_revokes_the_family(rp: Any, patron: Any) -> None:
    first = _offline(rp, patron)
    second = rp.refresh(first["refresh_token"]).get_json()
    third = rp.refresh(second["refresh_token"]).get_json()  # the client did get `second`

    replay = rp.refresh(first["refresh_token"])

    assert replay.get_json()["error"] == "invalid_grant"
    assert not _works(rp, third)
    assert rp.refresh(third["refresh_token"]).get_json()["error"] == "invalid_grant"


@pytest.fixture
def no_grace(app_config: dict[str, Any]) -> None:
    app_config["IDP_REFRESH_REUSE_GRACE"] = 0


def test_no_grace_when_set_to_zero(no_grace: None, rp: Any, patron: Any) -> None:
    first = _offline(rp, patron)
    second = rp.refresh(first["refresh_token"]).get_json()

    assert rp.refresh(first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert not _works(rp, second)


def _introspect(rp: Any, token: str, hint: str | None = None) -> dict[str, Any]:
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    raw = f"{rp.client_id}:{rp.secret}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    response = rp.browser.post("/introspect", data=data, headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_introspection_of_a_rotated_refresh_token_is_inactive(
    rp: Any, patron: Any, hint: str | None
) -> None:
    first = _offline(rp, patron)
    live = _introspect(rp, first["refresh_token"], hint)
    assert live["active"] is True
    assert "token_type" not in live  # not a bearer token
    assert live["exp"] - live["iat"] == 30 * 24 * 3600  # the refresh token's own expiry

    rp.refresh(first["refresh_token"])

    assert _introspect(rp, first["refresh_token"], hint) == {"active": False}
