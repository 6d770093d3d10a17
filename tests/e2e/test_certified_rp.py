"""An independent, OpenID-certified relying-party library (pyoidc) against a live server.

pyoidc fetches discovery and the JWKS, sends the authorization request with PKCE,
and verifies the ID token (signature against the JWKS, ``iss``, ``aud``, ``exp``,
``nonce``, ``at_hash``) and the userinfo ``sub`` itself; the test only plays the browser.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from oic.oic import Client as OidcClient
from oic.oic.message import AuthorizationResponse
from oic.oic.message import OpenIDSchema
from oic.oic.message import RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer

SECRET = "certified-rp-secret-0123456789-abcdefghij"


@pytest.fixture(autouse=True, params=["fast_path", "authlib"])
def token_path(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """pyoidc runs against both token paths: the WSGI fast path of the token endpoints
    (idp/views/support/fast.py) and every request through Flask and Authlib."""
    app_config["IDP_FAST_PATH"] = request.param == "fast_path"
    return str(request.param)


REDIRECT = "https://rp.example.org/callback"


def _browser_login(session: requests.Session, url: str, card: str, password: str) -> str:
    """Play the patron's browser: follow to the login form, submit, stop at the RP."""
    response = session.get(url, allow_redirects=False)
    while response.status_code == 302 and not response.headers["Location"].startswith(REDIRECT):
        location = urljoin(response.url, response.headers["Location"])
        response = session.get(location, allow_redirects=False)
        if response.status_code == 200 and 'name="card_number"' in response.text:
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
            rid = re.search(r'name="rid" type="hidden" value="([^"]*)"', response.text)
            assert token and rid
            response = session.post(
                urljoin(response.url, "/login"),
                data={
                    "card_number": card,
                    "password": password,
                    "csrf_token": token.group(1),
                    "rid": rid.group(1),
                },
                allow_redirects=False,
            )
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


@pytest.mark.e2e
@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_pyoidc_completes_the_code_flow(live_server: LiveServer, auth_method: str) -> None:
    make_patron("0300000001", name="図書館 太郎")
    make_client("certified-rp", secret=SECRET, redirect_uris=[REDIRECT], auth_method=auth_method)
    rp: Any = OidcClient(client_authn_method=CLIENT_AUTHN_METHOD)
    rp.provider_config(live_server.url)
    rp.store_registration_info(
        RegistrationResponse(
            client_id="certified-rp",
            client_secret=SECRET,
            redirect_uris=[REDIRECT],
            token_endpoint_auth_method=auth_method,
        )
    )
    rp.redirect_uris = [REDIRECT]
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    request = rp.construct_AuthorizationRequest(
        request_args={
            "client_id": "certified-rp",
            "response_type": "code",
            "scope": ["openid", "profile"],
            "state": state,
            "nonce": nonce,
            "redirect_uri": REDIRECT,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    url = request.request(rp.authorization_endpoint)

    location = _browser_login(requests.Session(), url, "0300000001", DEFAULT_PASSWORD)

    query = urlsplit(location).query
    assert parse_qs(query)["iss"] == [live_server.url]
    auth = rp.parse_response(AuthorizationResponse, info=query, sformat="urlencoded")
    assert auth["state"] == state
    tokens = rp.do_access_token_request(
        state=state,
        request_args={"code": auth["code"], "code_verifier": verifier},
        authn_method=auth_method,
    )
    id_token = tokens["id_token"]  # verified by pyoidc: signature, iss, aud, exp, nonce
    assert id_token["iss"] == live_server.url
    assert id_token["aud"] == ["certified-rp"]
    assert id_token["nonce"] == nonce
    info = rp.do_user_info_request(state=state)
    assert isinstance(info, OpenIDSchema)
    assert info["sub"] == id_token["sub"]
    assert info["name"] == "図書館 太郎"
