"""The password-change form is no password oracle: it goes through the sign-in core.

Wrong current passwords count on the same counters as the login page (per card, per
address), are answered "wrong" only within the free failures, then throttled (429 with
Retry-After), and are audited by the core with the channel ``password_change``.
"""

from __future__ import annotations

from collections import Counter

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.forms import login
from tests.support.forms import submit

FREE = 5


def _change(client: FlaskClient, current: str) -> int:
    response = submit(
        client,
        "/password/change",
        {
            "current_password": current,
            "new_password": "yomu2468",
            "new_password_confirm": "yomu2468",
        },
    )
    if response.status_code == 429:
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    return response.status_code


def test_forty_wrong_current_passwords_are_throttled(client: FlaskClient, patron: Patron) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    statuses = Counter(_change(client, f"guess-{i}") for i in range(40))
    assert statuses == {400: FREE, 429: 40 - FREE}
    # Throttled, even the right one: the form tells nothing more until the delay is over.
    assert _change(client, DEFAULT_PASSWORD) == 429
    db.session.refresh(patron)
    assert patron.failed_login_count == FREE and patron.locked_at is None
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.event.like("login.%"))).all()
    by_channel = Counter((e.event, e.detail.get("channel")) for e in events)
    assert by_channel[("login.failed", "password_change")] == FREE
    assert by_channel[("login.throttled", "password_change")] == 40 - FREE + 1


def test_the_form_and_the_login_page_share_the_card_counter(
    client: FlaskClient, patron: Patron
) -> None:
    login(client, patron.card_number, DEFAULT_PASSWORD)
    for i in range(FREE):
        assert _change(client, f"guess-{i}") == 400
    other = client.application.test_client()
    refused = login(other, patron.card_number, DEFAULT_PASSWORD)
    assert refused.status_code == 429
