"""Fixtures for the credential-check API: registered API clients and their tokens."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.models.client import Client
from tests.support.factories import make_client

API_SECRET = "api-client-secret-0123456789-abcdefghijkl"
PATH = "/api/patrons/authenticate"
#: The address the vendor's server calls from.
VENDOR_IP = "198.51.100.7"


def basic(client_id: str, secret: str = API_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def make_api_client(
    client_id: str = "vendor-api",
    *,
    scopes: list[str] | None = None,
    subject_type: str = "pairwise",
    **fields: Any,
) -> Client:
    """A confidential client-credentials client registered for the credential check.

    :param fields: other :class:`Client` columns (e.g. ``checks_per_minute``).
    """
    return make_client(
        client_id,
        secret=API_SECRET,
        scopes=scopes or ["patron:authenticate", "profile"],
        grant_types=["client_credentials"],
        redirect_uris=[],
        post_logout_redirect_uris=[],
        first_party=False,
        policy="deny",
        subject_type=subject_type,
        **fields,
    )


def fetch_token(browser: FlaskClient, client_id: str, scope: str) -> str:
    """A client-credentials access token from ``/token``."""
    response = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers={"Authorization": basic(client_id)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["access_token"]
    return token


@pytest.fixture
def api_client(app: Flask) -> Client:
    return make_api_client()


@pytest.fixture
def api_token(client: FlaskClient, api_client: Client) -> str:
    return fetch_token(client, api_client.client_id, "patron:authenticate profile")


Check = Callable[..., Any]


@pytest.fixture
def check(client: FlaskClient, api_token: str) -> Check:
    """POST a credential check with the API client's token; returns the response."""

    def run(
        card_number: Any,
        password: Any,
        *,
        token: str | None = None,
        ip: str = VENDOR_IP,
        **extra: Any,
    ) -> Any:
        body = {"card_number": card_number, "password": password, **extra}
        return client.post(
            PATH,
            json=body,
            headers={"Authorization": f"Bearer {token or api_token}"},
            environ_base={"REMOTE_ADDR": ip},
        )

    return run
