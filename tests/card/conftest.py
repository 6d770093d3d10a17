"""Fixtures of the card tests: the desk client and its token, signed-in patrons."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import TEST_REDIS_URL
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.oidc import csrf_token

REDIS_URL = TEST_REDIS_URL
DESK_SECRET = "desk-secret-0123456789-abcdefghijklmnopq"
DESK_IP = "192.0.2.50"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def client_credentials_token(client: FlaskClient, client_id: str, secret: str, scope: str) -> str:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(client_id, secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


@pytest.fixture
def desk(app: Any) -> Any:
    """The circulation desk: a machine client allowed ``card:verify``."""
    return make_client(
        "circulation-desk",
        secret=DESK_SECRET,
        scopes=["card:verify"],
        grant_types=["client_credentials"],
        first_party=True,
    )


@pytest.fixture
def desk_token(client: FlaskClient, desk: Any) -> str:
    return client_credentials_token(client, "circulation-desk", DESK_SECRET, "card:verify")


def post_verify(
    client: FlaskClient, token: str, code: Any, *, ip: str = DESK_IP, **kwargs: Any
) -> TestResponse:
    """Call the desk API with ``{"code": code}``."""
    return client.post(
        "/api/card/verify",
        json={"code": code},
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": ip},
        **kwargs,
    )


def log_in(
    client: FlaskClient, card_number: str, password: str = DEFAULT_PASSWORD, *, path: str = "/login"
) -> TestResponse:
    """Log in through the hosted form at ``path`` (no authorization request)."""
    page = client.get(path)
    response = client.post(
        path,
        data={
            "card_number": card_number,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def signed_in(client: FlaskClient, patron: Any) -> Any:
    """The default patron, logged in to the test browser."""
    log_in(client, patron.card_number)
    return patron


STEP = 30


@pytest.fixture
def aligned(clock: Any) -> Any:
    """The test clock moved to one second into a time step (30 s steps)."""
    start = (int(clock.now.timestamp()) // STEP + 1) * STEP + 1
    clock.now = dt.datetime.fromtimestamp(start, dt.UTC)
    return clock


@pytest.fixture(params=["database", "redis"])
def replay_backend(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """Run a test with the replay memory in the database, then in Redis."""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        app_config.update(IDP_REDIS_URL=REDIS_URL, IDP_CARD_REPLAY_REDIS_PREFIX=prefix)
    return str(request.param)


def current_value(card_number: str, now: dt.datetime) -> str:
    """The barcode value the card page shows at ``now``."""
    from idp.services.cards.codes import current_code
    from idp.services.cards.service import card_service

    return current_code(card_service().codes, card_number, now.timestamp()).value
