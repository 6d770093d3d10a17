"""Fixtures of the Device Authorization Grant tests: a kiosk client that polls."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.oidc import csrf_token

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
KIOSK_SECRET = "kiosk-secret-0123456789-abcdefghijklmnopq"


@dataclass
class Device:
    """A device client: asks for a code pair, then polls the token endpoint."""

    http: FlaskClient
    client_id: str
    secret: str | None

    def _auth(self, data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        if self.secret is None:
            return {**data, "client_id": self.client_id}, {}
        raw = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        return data, {"Authorization": f"Basic {raw}"}

    def start(self, scope: str = "openid profile") -> TestResponse:
        data, headers = self._auth({"scope": scope})
        return self.http.post("/device_authorization", data=data, headers=headers)

    def poll(self, device_code: str) -> TestResponse:
        data, headers = self._auth({"grant_type": DEVICE_GRANT, "device_code": device_code})
        return self.http.post("/token", data=data, headers=headers)


@pytest.fixture
def kiosk(app: Flask) -> Any:
    """A confidential device client, policy ``deny`` (a library kiosk)."""
    from tests.support.factories import make_client

    return make_client(
        "kiosk",
        name="館内キオスク",
        secret=KIOSK_SECRET,
        first_party=False,
        policy="deny",
        grant_types=[DEVICE_GRANT, "refresh_token"],
    )


@pytest.fixture
def device(app: Flask, kiosk: Any) -> Device:
    """The kiosk, on its own HTTP client (no cookies shared with the patron's browser)."""
    return Device(app.test_client(), "kiosk", KIOSK_SECRET)


def approve(
    browser: FlaskClient,
    user_code: str,
    card_number: str | None,
    password: str | None,
    *,
    allow: bool = True,
) -> TestResponse:
    """The patron's side: enter the code, sign in if asked, allow or deny."""
    page = browser.get("/device")
    response = browser.post(
        "/device",
        data={"user_code": user_code, "csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    response = browser.get(response.headers["Location"])
    if response.status_code == 302 and card_number is not None:
        login = browser.get(response.headers["Location"])
        response = browser.post(
            response.headers["Location"],
            data={
                "card_number": card_number,
                "password": password or "",
                "csrf_token": csrf_token(login.get_data(as_text=True)),
            },
        )
        if response.status_code != 302 or response.headers["Location"] != "/device/confirm":
            return response
        response = browser.get(response.headers["Location"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return browser.post(
        "/device/confirm",
        data={
            "allow" if allow else "deny": "1",
            "csrf_token": csrf_token(response.get_data(as_text=True)),
        },
    )
