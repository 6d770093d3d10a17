"""Authorization endpoint: request validation, prompts, max_age, consent, errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from tests.conftest import ISSUER
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of


def test_authorization_response_carries_iss_and_state(rp: Any, patron: Any) -> None:
    response = rp.login(rp.authorize(), patron.card_number, DEFAULT_PASSWORD)
    while not response.headers["Location"].startswith(rp.redirect_uri):
        response = rp.browser.get(response.headers["Location"])
    params = query_of(response)
    assert params["iss"] == ISSUER
    assert params["state"] == rp.state
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "Missing 'code_challenge'."),
        (
            {"code_challenge_method": "plain"},
            "Unsupported 'code_challenge_method': use S256.",
        ),
        ({"code_challenge": "short"}, "Invalid 'code_challenge'"),
        ({"prompt": "none login"}, "Invalid 'prompt' parameter."),
        ({"max_age": "soon"}, "Invalid 'max_age' parameter."),
    ],
)
def test_invalid_request_redirects_error_with_iss(
    rp: Any, extra: dict[str, str | None], description: str
) -> None:
    response = rp.authorize(**extra)
    assert response.status_code == 302
    params = query_of(response)
    assert params["error"] == "invalid_request"
    assert params["error_description"] == description
    assert params["iss"] == ISSUER
    assert params["state"] == rp.state


@pytest.mark.parametrize(
    ("param", "error"),
    [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
        ("registration", "registration_not_supported"),
    ],
)
def test_request_objects_are_refused_with_registered_errors(
    rp: Any, param: str, error: str
) -> None:
    response = rp.authorize(**{param: "x"})
    assert query_of(response)["error"] == error


def test_unregistered_redirect_uri_gets_a_page_not_a_redirect(rp: Any) -> None:
    response = rp.authorize(redirect_uri="https://attacker.example/callback")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)


def test_redirect_uri_must_match_exactly(rp: Any) -> None:
    response = rp.authorize(redirect_uri=rp.redirect_uri + "/extra")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unknown_client_gets_a_page(client: FlaskClient) -> None:
    response = client.get(
        "/authorize", query_string={"client_id": "nobody", "response_type": "code"}
    )
    assert response.status_code == 400
    assert "invalid_client" in response.get_data(as_text=True)


def test_implicit_flow_is_unsupported(rp: Any) -> None:
    response = rp.authorize(response_type="token")
    assert response.status_code == 302
    assert query_of(response)["error"] == "unsupported_response_type"


def test_unknown_scopes_are_not_granted(rp: Any, patron: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid admin")
    assert rp.exchange(code).get_json()["scope"] == "openid"


def test_prompt_none_without_session_returns_login_required(rp: Any) -> None:
    params = query_of(rp.authorize(prompt="none"))
    assert params["error"] == "login_required"
    assert params["iss"] == ISSUER
    assert params["state"] == rp.state


def test_prompt_none_with_session_issues_code_silently(rp: Any, patron: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    response = rp.authorize(prompt="none")
    assert response.status_code == 302
    assert "code" in query_of(response)


def test_existing_session_skips_login(rp: Any, patron: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    assert "code" in query_of(rp.authorize())


def test_prompt_login_forces_the_login_page(rp: Any, patron: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    response = rp.authorize(prompt="login")
    assert response.headers["Location"].startswith("/login")
    code = rp.code_from(rp.login(response, patron.card_number, DEFAULT_PASSWORD))
    assert code


def test_max_age_exceeded_forces_login_and_auth_time_is_fresh(
    rp: Any, patron: Any, clock: Any
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(seconds=120)
    response = rp.authorize(max_age="60")
    assert response.headers["Location"].startswith("/login")
    code = rp.code_from(rp.login(response, patron.card_number, DEFAULT_PASSWORD))
    claims = rp.verify_id_token(rp.exchange(code).get_json()["id_token"], ISSUER)
    assert claims["auth_time"] == int(clock.now.timestamp())


def test_max_age_within_limit_needs_no_login(rp: Any, patron: Any, clock: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(seconds=30)
    assert "code" in query_of(rp.authorize(max_age="60"))


def test_prompt_none_with_stale_max_age_is_login_required(rp: Any, patron: Any, clock: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(seconds=120)
    assert query_of(rp.authorize(prompt="none", max_age="60"))["error"] == "login_required"


def _consent_page(vendor_rp: Any, patron: Any) -> Any:
    response = vendor_rp.login(
        vendor_rp.authorize(scope="openid library_card"), patron.card_number, DEFAULT_PASSWORD
    )
    response = vendor_rp.browser.get(response.headers["Location"])  # back to /authorize
    assert response.headers["Location"].startswith("/authorize/consent")
    return response


def test_third_party_asks_consent_once(vendor_rp: Any, patron: Any) -> None:
    location = _consent_page(vendor_rp, patron).headers["Location"]
    page = vendor_rp.browser.get(location)
    assert page.status_code == 200
    assert "貸出カードの番号と有効期限" in page.get_data(as_text=True)
    rid = query_of_location(location)["rid"]
    token = csrf_token(page.get_data(as_text=True))
    response = vendor_rp.browser.post(
        "/authorize/consent", data={"csrf_token": token, "rid": rid, "allow": "1"}
    )
    assert vendor_rp.code_from(response)
    # The second time, no consent page: a code straight away.
    assert "code" in query_of(vendor_rp.authorize(scope="openid library_card"))


def test_denied_consent_returns_access_denied(vendor_rp: Any, patron: Any) -> None:
    location = _consent_page(vendor_rp, patron).headers["Location"]
    page = vendor_rp.browser.get(location)
    response = vendor_rp.browser.post(
        "/authorize/consent",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "rid": query_of_location(location)["rid"],
            "deny": "1",
        },
    )
    response = vendor_rp.browser.get(response.headers["Location"])
    params = query_of(response)
    assert params["error"] == "access_denied"
    assert params["iss"] == ISSUER


def test_prompt_none_without_consent_is_consent_required(vendor_rp: Any, patron: Any) -> None:
    _consent_page(vendor_rp, patron)
    params = query_of(vendor_rp.authorize(scope="openid library_card", prompt="none"))
    assert params["error"] == "consent_required"


def query_of_location(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
