"""Failures through the API and the login form lock a card together; locked is told everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from tests.patron_api.conftest import Check
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # No delays, so that failures reach the lock quickly: 4 consecutive failures lock.
    app_config["IDP_THROTTLE_CARD_DELAY"] = 0
    app_config["IDP_THROTTLE_CARD_LOCK_AFTER"] = 4
    return app_config


def test_mixed_failures_lock_the_card_everywhere(
    check: Check, client: FlaskClient, patron: Patron
) -> None:
    check(patron.card_number, "wrong-1")
    post_login(client, patron.card_number, "wrong-2")
    check(patron.card_number, "wrong-3")
    assert post_login(client, patron.card_number, "wrong-4").status_code == 403
    db.session.refresh(patron)
    assert patron.locked_at is not None
    # Locked: even the right password is refused, through both doors.
    assert check(patron.card_number, DEFAULT_PASSWORD).get_json() == {
        "valid": False,
        "reason": "locked",
    }
    assert post_login(client, patron.card_number, DEFAULT_PASSWORD).status_code == 403
    channels = db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.event == "login.locked")
    ).all()
    assert {d["channel"] for d in channels} == {"api", "web"}
