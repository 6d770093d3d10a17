"""The credential-check API and the hosted login share one set of throttle counters."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.patron import Patron
from tests.patron_api.conftest import Check
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD

#: The hosted login's per-card limits (defaults): 5 free failures, then 60 s, doubling.
FREE = 5


def test_failures_through_the_api_throttle_the_login_form(
    check: Check, client: FlaskClient, patron: Patron
) -> None:
    for _ in range(FREE):
        assert check(patron.card_number, "wrong-guess").get_json()["reason"] == (
            "invalid_credentials"
        )
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"


def test_failures_on_the_login_form_throttle_the_api(
    check: Check, client: FlaskClient, patron: Patron, clock: Any
) -> None:
    for _ in range(FREE):
        assert post_login(client, patron.card_number, "wrong-guess").status_code == 401
    response = check(patron.card_number, DEFAULT_PASSWORD)
    # Still a 200: the check was made, and its answer is "throttled" (not "ok", even
    # though the password is right: it was never looked at).
    assert response.status_code == 200
    assert response.get_json() == {"valid": False, "reason": "throttled", "retry_after": 60}
    assert response.headers["Retry-After"] == "60"
    clock.advance(seconds=60)
    assert check(patron.card_number, DEFAULT_PASSWORD).get_json()["reason"] == "ok"
    # ...and a right password through the API resets the card's counter for the form.
    assert post_login(client, patron.card_number, "wrong-guess").status_code == 401


def test_throttled_right_and_wrong_passwords_look_the_same(check: Check, patron: Patron) -> None:
    for _ in range(FREE):
        check(patron.card_number, "wrong-guess")
    right = check(patron.card_number, DEFAULT_PASSWORD)
    wrong = check(patron.card_number, "wrong-guess")
    assert right.get_json() == wrong.get_json()
    assert right.headers["Retry-After"] == wrong.headers["Retry-After"]
    assert db.session.scalar(select(Patron.last_login_at)) is None


def test_the_patrons_address_is_throttled_when_the_vendor_gives_it(
    check: Check, app_config: dict[str, Any], patron: Patron
) -> None:
    # Ten checks a minute from one address (IDP_THROTTLE_IP_PER_MINUTE): a vendor that
    # passes each patron's address is limited per patron, not as one source.
    for index in range(10):
        check(f"039999{index:04d}", "guess", patron_ip="203.0.113.5")
        check(f"038888{index:04d}", "guess", patron_ip=f"192.0.2.{index + 1}")
    spray = check("0399999998", "guess", patron_ip="203.0.113.5")
    assert spray.get_json()["reason"] == "throttled"
    other = check(patron.card_number, DEFAULT_PASSWORD, patron_ip="203.0.113.77")
    assert other.get_json()["reason"] == "ok"
