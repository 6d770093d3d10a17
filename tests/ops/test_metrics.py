"""Prometheus metrics: off by default, readable only by allowed scrapers, counting what matters."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from idp import create_app
from idp.config import ConfigError
from tests.conftest import PORTAL_SECRET
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import RelyingParty

TOKEN = "metrics-scraper-secret-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def metrics_on(app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app_config.update(IDP_METRICS=True, IDP_METRICS_TOKEN=TOKEN)
    return app_config


def test_metrics_are_off_by_default(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_need_an_allowed_network_or_the_token(
    metrics_on: dict[str, Any], client: FlaskClient
) -> None:
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics").status_code == 200  # loopback is allowed by default
    assert client.get("/metrics", environ_base=outside).status_code == 404
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get("/metrics", environ_base=outside, headers=wrong).status_code == 404
    right = {"Authorization": f"Bearer {TOKEN}"}
    response = client.get("/metrics", environ_base=outside, headers=right)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")


def test_logins_tokens_throttling_and_latency_are_counted(
    metrics_on: dict[str, Any], client: FlaskClient, rp: RelyingParty, patron: Any
) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    tokens = rp.exchange(code).get_json()
    assert rp.refresh(tokens["refresh_token"]).status_code == 200
    for _ in range(6):
        post_login(client, patron.card_number, "wrong-guess", ip="198.51.100.7")
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("idp_logins_total", (("channel", "web"), ("outcome", "ok")))] == 1
    assert (
        found[("idp_logins_total", (("channel", "web"), ("outcome", "invalid_credentials")))] == 5
    )
    assert found[("idp_logins_total", (("channel", "web"), ("outcome", "throttled")))] == 1
    assert found[("idp_throttle_events_total", (("kind", "card"),))] == 1
    assert found[("idp_tokens_issued_total", (("grant_type", "authorization_code"),))] == 1
    assert found[("idp_tokens_issued_total", (("grant_type", "refresh_token"),))] == 1
    latency = (
        "idp_request_duration_seconds_count",
        (("endpoint", "token.issue_token"), ("method", "POST")),
    )
    assert found[latency] == 2
    text = client.get("/metrics").get_data(as_text=True)
    assert patron.card_number not in text and "198.51.100" not in text and PORTAL_SECRET not in text


def test_bad_metrics_networks_refuse_to_start(app_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="IDP_METRICS_NETWORKS"):
        create_app({**app_config, "IDP_METRICS": True, "IDP_METRICS_NETWORKS": "10.0.0.0/8,nope"})
