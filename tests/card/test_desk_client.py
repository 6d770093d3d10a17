"""The shipped ``circulation-desk`` client: synced from its file, used at the desk."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis.checks import content_type_conformance
from schemathesis.checks import not_a_server_error
from schemathesis.checks import response_schema_conformance
from schemathesis.checks import status_code_conformance
from schemathesis.generation.modes import GenerationMode

from idp.cli.demo import DEMO_SECRETS
from tests.card.conftest import client_credentials_token
from tests.card.conftest import current_value
from tests.card.conftest import post_verify
from tests.rebuild import rebuild_limiter
from tests.support.factories import change_settings

SHIPPED = Path(__file__).resolve().parents[2] / "clients" / "circulation-desk.toml"
SECRET = DEMO_SECRETS["CIRCULATION_DESK_CLIENT_SECRET"]


def test_clients_sync_accepts_the_desk_file(
    runner: FlaskCliRunner, client: FlaskClient, patron: Any, aligned: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    shutil.copy(SHIPPED, folder)

    result = runner.invoke(
        args=["clients", "sync", str(folder)], env={"CIRCULATION_DESK_CLIENT_SECRET": SECRET}
    )

    assert result.exit_code == 0, result.output
    assert "created: circulation-desk" in result.output
    token = client_credentials_token(client, "circulation-desk", SECRET, "card:verify")
    answer = post_verify(client, token, current_value(patron.card_number, aligned.now))
    assert answer.get_json()["valid"] is True


def test_the_desk_cannot_ask_for_patron_scopes(
    runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    shutil.copy(SHIPPED, folder)
    runner.invoke(
        args=["clients", "sync", str(folder)], env={"CIRCULATION_DESK_CLIENT_SECRET": SECRET}
    )

    token = client_credentials_token(client, "circulation-desk", SECRET, "card:verify openid")
    response = client.get("/api/card/barcode", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403


def test_verify_api_answers_as_described_with_a_valid_token(
    app: Flask, desk_token: str, patron: Any
) -> None:
    # schemathesis with the desk's token: the body validation and the answers, not
    # only the 401 every unauthenticated request gets.
    api = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = api["/api/card/verify"]["POST"]
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    change_settings(app, IDP_CARD_VERIFY_IP_PER_MINUTE=0)  # no limit for the fuzzer
    change_settings(app, IDP_CARD_VERIFY_CLIENT_PER_MINUTE=0)
    change_settings(app, IDP_CARD_VERIFY_FAILURES_PER_DAY=0)
    rebuild_limiter(app)

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {desk_token}"}
            case.call_and_validate(checks=checks)

        run()
