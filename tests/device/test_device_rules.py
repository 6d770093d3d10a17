"""The device page's rules: the temporary-password invariant, card status, guessing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from idp.extensions import db
from tests.device.conftest import Device
from tests.device.conftest import approve
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.oidc import csrf_token


def _browser_at(app: Any, address: str) -> FlaskClient:
    browser: FlaskClient = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def _enter(browser: FlaskClient, user_code: str) -> Any:
    page = browser.get("/device")
    return browser.post(
        "/device",
        data={"user_code": user_code, "csrf_token": csrf_token(page.get_data(as_text=True))},
    )


def test_temporary_password_is_refused_with_the_clients_deny_policy(
    device: Device, client: FlaskClient, app: Any
) -> None:
    patron = make_patron(temporary=True)
    body = device.start().get_json()
    page = approve(client, body["user_code"], patron.card_number, DEFAULT_PASSWORD)
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "仮パスワードではログインできません" in text or "temporary password" in text
    assert "/password/change" in text  # the page explains the change
    assert device.poll(body["device_code"]).get_json()["error"] == "authorization_pending"


def test_temporary_password_goes_to_the_change_form_with_a_change_policy(
    app: Any, client: FlaskClient
) -> None:
    make_client(
        "tv",
        secret="tv-secret-0123456789-abcdefghijklmnopqrstu",
        policy="change",
        grant_types=["urn:ietf:params:oauth:grant-type:device_code"],
    )
    tv = Device(app.test_client(), "tv", "tv-secret-0123456789-abcdefghijklmnopqrstu")
    patron = make_patron(temporary=True)
    body = tv.start().get_json()
    response = approve(client, body["user_code"], patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/password/change")
    assert tv.poll(body["device_code"]).get_json()["error"] == "authorization_pending"


@pytest.mark.parametrize("status", ["suspended", "lost", "withdrawn"])
def test_inactive_card_cannot_approve(
    device: Device, client: FlaskClient, app: Any, status: str
) -> None:
    patron = make_patron(status=status)
    body = device.start().get_json()
    page = approve(client, body["user_code"], patron.card_number, DEFAULT_PASSWORD)
    assert page.status_code == 403
    assert device.poll(body["device_code"]).get_json()["error"] == "authorization_pending"


@pytest.mark.parametrize("change", ["temporary", "suspended", "expired"])
def test_no_token_when_the_card_changes_after_approval(
    device: Device, client: FlaskClient, patron: Any, clock: Any, change: str
) -> None:
    import datetime as dt

    body = device.start().get_json()
    assert (
        approve(client, body["user_code"], patron.card_number, DEFAULT_PASSWORD).status_code == 200
    )
    if change == "temporary":
        patron.is_temporary_password = True
    elif change == "suspended":
        patron.status = "suspended"
    else:
        patron.expires_on = dt.date(2000, 1, 1)
    db.session.commit()
    response = device.poll(body["device_code"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_signed_in_patron_approves_without_typing_the_password(
    device: Device, rp: Any, patron: Any
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)  # signed in already, in this browser
    body = device.start().get_json()
    done = approve(rp.browser, body["user_code"], None, None)
    assert done.status_code == 200
    assert device.poll(body["device_code"]).status_code == 200


def test_wrong_codes_are_limited_per_address(device: Device, client: FlaskClient, app: Any) -> None:
    # Before the limiter's first use (it is built from the configuration then).
    change_settings(app, IDP_DEVICE_IP_FAILURES_PER_HOUR=3)
    for _ in range(3):
        assert _enter(client, "BCDF-GHJK").status_code == 400
    body = device.start().get_json()
    refused = _enter(client, body["user_code"])  # even the right code, from this address
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    other = _browser_at(app, "192.0.2.7")
    assert _enter(other, body["user_code"]).status_code == 302


def test_one_devices_code_may_be_entered_only_a_few_times(device: Device, app: Any) -> None:
    body = device.start().get_json()
    browsers = [_browser_at(app, f"192.0.2.{i}") for i in range(7)]
    answers = [_enter(b, body["user_code"]).status_code for b in browsers]
    assert answers == [302] * 5 + [429] * 2


@pytest.mark.parametrize("typed", ["", "ABCD-EFGH", "0000-0000", "BCDF-GHJ", "x" * 70])
def test_malformed_codes_are_a_clear_400(client: FlaskClient, app: Any, typed: str) -> None:
    response = _enter(client, typed)
    assert response.status_code == 400


def test_confirm_page_without_an_entered_code_is_a_400(client: FlaskClient, app: Any) -> None:
    assert client.get("/device/confirm").status_code == 400
