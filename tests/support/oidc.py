"""A test-side relying party: drives the code flow through the Flask test client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import TestResponse

from idp.models.client import Client


def s256(verifier: str) -> str:
    """PKCE S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(response: TestResponse) -> dict[str, str]:
    """The query parameters of a redirect's Location."""
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class RelyingParty:
    """One client's view of the flow."""

    browser: FlaskClient
    client_id: str
    secret: str | None
    redirect_uri: str
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    auth_method: str = "client_secret_basic"

    @classmethod
    def for_client(cls, browser: FlaskClient, client: Client, secret: str | None) -> RelyingParty:
        return cls(
            browser,
            client.client_id,
            secret,
            client.redirect_uris[0],
            auth_method=client.token_endpoint_auth_method,
        )

    def authorize_params(
        self, scope: str = "openid profile", **extra: str | None
    ) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, scope: str = "openid profile", **extra: str | None) -> TestResponse:
        """Start a new authorization request (fresh state, nonce and PKCE verifier)."""
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(12)
        self.state = secrets.token_urlsafe(12)
        return self.browser.get("/authorize", query_string=self.authorize_params(scope, **extra))

    def login(self, response: TestResponse, card_number: str, password: str) -> TestResponse:
        """Follow a redirect to the login page and submit the form."""
        assert response.status_code == 302, response.get_data(as_text=True)
        page = self.browser.get(response.headers["Location"])
        assert page.status_code == 200
        token = csrf_token(page.get_data(as_text=True))
        rid = parse_qs(urlsplit(response.headers["Location"]).query).get("rid", [""])[0]
        return self.browser.post(
            "/login",
            data={
                "card_number": card_number,
                "password": password,
                "csrf_token": token,
                "rid": rid,
            },
        )

    def code_from(self, response: TestResponse) -> str:
        """Follow redirects inside the IdP until the client's callback; return the code."""
        while response.status_code == 302 and not response.headers["Location"].startswith(
            self.redirect_uri
        ):
            response = self.browser.get(response.headers["Location"])
        assert response.status_code == 302, response.get_data(as_text=True)
        params = query_of(response)
        assert "code" in params, params
        assert params["state"] == self.state
        return params["code"]

    def sign_in(self, card_number: str, password: str, scope: str = "openid profile") -> str:
        """The whole front channel: authorize, log in, return the code."""
        return self.code_from(self.login(self.authorize(scope), card_number, password))

    def token_request(self, data: dict[str, str], *, secret: str | None = None) -> TestResponse:
        headers = {}
        data = dict(data)
        secret = secret or self.secret
        if secret is not None and self.auth_method == "client_secret_basic":
            raw = f"{self.client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif secret is not None:
            data.update(client_id=self.client_id, client_secret=secret)
        else:
            data["client_id"] = self.client_id
        return self.browser.post("/token", data=data, headers=headers)

    def exchange(self, authorization_code: str, **overrides: str | None) -> TestResponse:
        data: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": authorization_code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        data.update(overrides)
        secret = data.pop("client_secret", None)
        clean = {k: v for k, v in data.items() if v is not None}
        return self.token_request(clean, secret=secret)

    def refresh(self, refresh_token: str) -> TestResponse:
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def verify_id_token(self, id_token: str, issuer: str) -> dict[str, Any]:
        """Verify an ID token against the published JWKS, as a relying party would."""
        jwks = self.browser.get("/jwks.json").get_json()
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": self.nonce},
        )
        registry.validate(token.claims)
        return dict(token.claims)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in a page."""
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
