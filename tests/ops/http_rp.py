"""A relying party over real HTTP (requests), for live servers and several nodes.

The browser is one ``requests.Session``: its cookies go to every node on 127.0.0.1 (a
cookie is not tied to a port), as behind a load balancer. Each call names its node.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

from tests.support.oidc import csrf_token

TIMEOUT = 10


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class HttpRelyingParty:
    """One confidential client (client_secret_basic) driving the code flow over HTTP."""

    client_id: str
    secret: str
    redirect_uri: str
    browser: requests.Session = field(default_factory=requests.Session)
    verifier: str = ""
    state: str = ""

    def authorize_url(self, node: str, scope: str, **extra: str) -> str:
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": self.state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        return str(requests.Request("GET", node + "/authorize", params=params).prepare().url)

    def follow(self, node: str, response: requests.Response) -> requests.Response:
        """Follow redirects on ``node`` until one leaves the IdP (to the client)."""
        while response.status_code in {301, 302, 303} and not response.headers[
            "Location"
        ].startswith(self.redirect_uri):
            target = urljoin(node + "/", response.headers["Location"])
            parts = urlsplit(target)
            target = node + parts.path + (f"?{parts.query}" if parts.query else "")
            response = self.browser.get(target, allow_redirects=False, timeout=TIMEOUT)
        return response

    def sign_in(
        self, node: str, card: str, password: str, scope: str = "openid offline_access"
    ) -> str:
        """Authorize at ``node``, submit the login form there, return the code.

        A browser that is signed in already gets its code without the form.
        """
        start = self.browser.get(
            self.authorize_url(node, scope), allow_redirects=False, timeout=TIMEOUT
        )
        login_page = self.follow(node, start)
        if login_page.status_code in {302, 303}:
            return self.code_from(node, login_page)
        assert login_page.status_code == 200, login_page.text
        rid = query(login_page.url).get("rid", "")
        posted = self.browser.post(
            node + "/login",
            data={
                "card_number": card,
                "password": password,
                "csrf_token": csrf_token(login_page.text),
                "rid": rid,
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return self.code_from(node, posted)

    def code_from(self, node: str, response: requests.Response) -> str:
        final = self.follow(node, response)
        assert final.status_code in {302, 303}, final.text
        params = query(final.headers["Location"])
        assert params.get("state") == self.state, params
        return params["code"]

    def silent(self, node: str) -> dict[str, str]:
        """``prompt=none`` at ``node``: the redirect's parameters (code or error)."""
        response = self.browser.get(
            self.authorize_url(node, "openid", prompt="none"),
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        final = self.follow(node, response)
        return query(final.headers["Location"])

    def token(self, node: str, data: dict[str, str]) -> requests.Response:
        """POST to the token endpoint of ``node`` (a fresh connection, no browser cookies)."""
        return requests.post(
            node + "/token", data=data, auth=(self.client_id, self.secret), timeout=TIMEOUT
        )

    def exchange_data(self, code: str) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }

    def exchange(self, node: str, code: str) -> requests.Response:
        return self.token(node, self.exchange_data(code))

    def refresh(self, node: str, refresh_token: str) -> requests.Response:
        return self.token(node, {"grant_type": "refresh_token", "refresh_token": refresh_token})

    def tokens(self, node: str, code: str) -> dict[str, Any]:
        response = self.exchange(node, code)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found
