"""RFC 9700 (OAuth 2.0 Security BCP) points not covered elsewhere, and the checklist itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD

ROOT = Path(__file__).resolve().parent.parent.parent


def test_discovery_offers_only_the_code_flow_and_s256(client: FlaskClient) -> None:
    # §2.1.2: no implicit grant; §2.4: no resource owner password grant; §2.1.1: PKCE S256.
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["response_types_supported"] == ["code"]
    assert "password" not in metadata["grant_types_supported"]
    assert "implicit" not in metadata["grant_types_supported"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_access_token_in_the_query_string_is_not_accepted(rp: Any, patron: Any) -> None:
    # §4.3.2 / RFC 6750 §2.3: a token in a URL leaks through logs and history.
    access = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    response = rp.browser.get("/userinfo", query_string={"access_token": access["access_token"]})
    assert response.status_code == 401


def test_login_redirects_with_302_never_307(client: FlaskClient, patron: Any) -> None:
    # §4.12: a 307 would make the browser re-post the card number and password.
    response = post_login(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 302


def test_every_test_named_in_the_security_document_exists() -> None:
    document = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    references = set(re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", document))
    assert len(references) >= 25
    missing = [
        f"{path}::{name}"
        for path, name in sorted(references)
        if not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)
    ]
    assert not missing


def test_security_document_states_the_figures_the_attack_bench_measures() -> None:
    from bench.attack import documented_figures

    document = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    figures = documented_figures()
    hours, minutes = divmod(figures["card_seconds_to_lock"] // 60, 60)
    assert f"{hours}h{minutes:02d}m" in document
    for key in ("ip_checks_per_day", "net_checks_per_day", "ip_checks_first_minute"):
        assert f"| {figures[key]} |" in document, key


def test_attack_bench_is_throttled_as_documented() -> None:
    from bench.attack import main

    assert main([]) == 0
