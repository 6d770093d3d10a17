"""Discovery, JWKS, userinfo, revocation, introspection, logout, pairwise subjects."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from idp.services.container import container
from tests.conftest import ISSUER
from tests.conftest import VENDOR_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of


def test_discovery_document_describes_the_provider(client: FlaskClient) -> None:
    response = client.get("/.well-known/openid-configuration")
    meta = response.get_json()
    assert meta["issuer"] == ISSUER
    assert meta["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["subject_types_supported"]) == {"public", "pairwise"}
    assert "ETag" in response.headers


def test_discovery_answers_304_for_a_matching_etag(client: FlaskClient) -> None:
    etag = client.get("/.well-known/openid-configuration").headers["ETag"]
    again = client.get("/.well-known/openid-configuration", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_jwks_publishes_the_active_key_without_private_parts(client: FlaskClient) -> None:
    keys = client.get("/jwks.json").get_json()["keys"]
    store = container().keys
    active = [store.active_key_for(alg).kid for alg in ("RS256", "ES256", "EdDSA")]
    assert [k["kid"] for k in keys] == active  # the RSA key and its two companions
    assert [k["alg"] for k in keys] == ["RS256", "ES256", "EdDSA"]
    for key in keys:
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_userinfo_without_token_is_401_with_challenge(client: FlaskClient) -> None:
    response = client.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_with_unknown_token_is_401(client: FlaskClient) -> None:
    response = client.get("/userinfo", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_userinfo_releases_only_the_granted_scopes(rp: Any, patron: Any) -> None:
    tokens = rp.exchange(
        rp.sign_in(patron.card_number, DEFAULT_PASSWORD, "openid email")
    ).get_json()
    info = rp.browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).get_json()
    assert info == {"sub": patron.subject, "email": "taro@example.org", "email_verified": False}


def test_revoking_the_refresh_token_revokes_the_access_token(rp: Any, patron: Any) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, "openid offline_access")
    tokens = rp.exchange(code).get_json()
    response = rp.token_request({"token": tokens["refresh_token"]})
    response = rp.browser.post(
        "/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers=rp_basic(rp),
    )
    assert response.status_code == 200
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert rp.browser.get("/userinfo", headers=bearer).status_code == 401
    assert rp.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoking_an_unknown_token_is_fine(rp: Any) -> None:
    response = rp.browser.post("/revoke", data={"token": "unknown"}, headers=rp_basic(rp))
    assert response.status_code == 200


def test_revocation_requires_client_authentication(client: FlaskClient) -> None:
    response = client.post("/revoke", data={"token": "x"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_introspection_reports_active_tokens_to_their_client(rp: Any, patron: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    body = rp.browser.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=rp_basic(rp)
    ).get_json()
    assert body["active"] is True
    assert body["client_id"] == "portal"
    assert body["sub"] == patron.subject
    assert body["iss"] == ISSUER


def test_introspection_hides_tokens_of_other_clients(rp: Any, vendor: Any, patron: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    body = rp.browser.post(
        "/introspect",
        data={
            "token": tokens["access_token"],
            "client_id": "vendor",
            "client_secret": VENDOR_SECRET,
        },
    ).get_json()
    assert body == {"active": False}


def test_introspection_of_expired_token_is_inactive(rp: Any, patron: Any, clock: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    clock.advance(seconds=901)
    body = rp.browser.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=rp_basic(rp)
    ).get_json()
    assert body == {"active": False}


def test_pairwise_subjects_differ_per_sector_and_stay_stable(
    rp: Any, vendor_rp: Any, patron: Any
) -> None:
    portal_claims = rp.verify_id_token(
        rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()["id_token"],
        ISSUER,
    )
    subs = []
    for _ in range(2):
        response = vendor_rp.authorize(scope="openid")
        while response.headers["Location"].startswith("/authorize/consent"):
            page = vendor_rp.browser.get(response.headers["Location"])
            response = vendor_rp.browser.post(
                response.headers["Location"],
                data={"csrf_token": csrf_token(page.get_data(as_text=True)), "allow": "1"},
            )
            response = vendor_rp.browser.get(response.headers["Location"])
        code = query_of(response)["code"]
        tokens = vendor_rp.exchange(code).get_json()
        subs.append(vendor_rp.verify_id_token(tokens["id_token"], ISSUER)["sub"])
    assert subs[0] == subs[1]
    assert subs[0] != portal_claims["sub"] == patron.subject
    assert patron.card_number not in subs[0]


def test_rp_initiated_logout_ends_session_and_redirects(rp: Any, patron: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    response = rp.browser.get(
        "/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://portal.example.org/",
            "state": "bye",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://portal.example.org/?state=bye"
    assert query_of(rp.authorize(prompt="none"))["error"] == "login_required"


def test_logout_to_unregistered_uri_does_not_redirect(rp: Any, patron: Any) -> None:
    tokens = rp.exchange(rp.sign_in(patron.card_number, DEFAULT_PASSWORD)).get_json()
    response = rp.browser.get(
        "/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://attacker.example/",
        },
    )
    assert response.status_code == 200
    assert "Location" not in response.headers


def test_logout_with_forged_hint_is_an_error_page(rp: Any) -> None:
    response = rp.browser.get("/logout", query_string={"id_token_hint": "a.b.c"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_logout_without_hint_asks_for_confirmation(rp: Any, patron: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    page = rp.browser.get("/logout")
    assert page.status_code == 200
    assert query_of(rp.authorize(prompt="none")).get("code")  # still signed in
    confirmed = rp.browser.post(
        "/logout", data={"confirm": "1", "csrf_token": csrf_token(page.get_data(as_text=True))}
    )
    assert confirmed.status_code == 200
    assert query_of(rp.authorize(prompt="none"))["error"] == "login_required"


def test_logout_confirmation_without_csrf_is_refused(rp: Any, patron: Any) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    assert rp.browser.post("/logout", data={"confirm": "1"}).status_code == 400
    assert query_of(rp.authorize(prompt="none")).get("code")


def rp_basic(rp: Any) -> dict[str, str]:
    import base64

    raw = f"{rp.client_id}:{rp.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
