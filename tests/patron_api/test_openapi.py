"""The credential-check API answers as its OpenAPI description says, with a real token.

The shared OpenAPI test calls every operation without credentials; here schemathesis
sends valid and invalid bodies with the API client's own token, so that the answers of
the check itself (200 with every reason, 400) are held to the document too.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import select

from idp.extensions import db
from idp.models.patron import Patron
from tests.security.test_openapi import CHECKS


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Every generated request from one test address: let them reach the password check.
    app_config["IDP_THROTTLE_IP_PER_MINUTE"] = 0
    app_config["IDP_THROTTLE_NET_PER_MINUTE"] = 0
    return app_config


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_credential_check_answers_as_documented(
    app: Flask, api_token: str, patron: Patron, mode: GenerationMode
) -> None:
    api = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = api["/api/patrons/authenticate"]["POST"]
    statuses: set[int] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(
            checks=CHECKS, headers={"Authorization": f"Bearer {api_token}"}
        )
        statuses.add(response.status_code)

    run()
    assert statuses <= {200, 400, 401, 413}  # negative cases may spoil the header
    assert (200 if mode is GenerationMode.POSITIVE else 400) in statuses
    assert db.session.scalar(select(Patron.last_login_at)) is None
