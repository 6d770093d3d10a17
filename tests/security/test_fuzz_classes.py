"""Every parameter of every endpoint gets each class of hostile input (SPEC §7).

The random property tests (test_fuzz.py) draw from wide strategies, and their fixed
example set never put a quote into ``redirect_uri`` or ``response_type``, a line break
into ``next`` or a deep document into a JSON body, which were all 500s. Here the
coverage is systematic: for each endpoint, each of its parameters (and, where the
endpoint reads JSON, the body itself) is replaced in turn by a value of each class —
quotes, backslashes, control characters, non-ASCII, deeply nested JSON — while the
other parameters keep valid values, so that the odd value reaches the code that reads
it. Within a class, hypothesis draws the value: the hostile characters alone, or put
into the parameter's valid value at the start, the middle or the end.

Every answer must be below 500, in the endpoint's format (JSON at the JSON endpoints),
redirect only to a registered URI or a local path, and leave the tables that matter as
they were.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.authorization_code import AuthorizationCode
from idp.models.client import Client
from idp.models.consent import Consent
from idp.models.patron import Patron
from idp.models.token import Token
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.oidc import csrf_token

PER_CLASS = settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
REDIRECT_URI = "https://portal.example.org/callback"
POST_LOGOUT_URI = "https://portal.example.org/"
MACHINE_SECRET = "machine-secret-0123456789-abcdefghijklmn"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

# --- the classes ---------------------------------------------------------------------

QUOTES = ['"', "'", "`", '""', "\"'", "%22", "&quot;"]
BACKSLASHES = ["\\", "\\\\", "\\u0000", "\\x00", "\\n", "\\/", "\\u00e9\\"]
CONTROLS = [chr(c) for c in (*range(0, 32), 0x7F, 0x85, 0x2028, 0x2029)] + ["\r\n", "\t\n"]
NON_ASCII = [
    "é",
    "図書館",
    "０３０",
    "\u202e",
    "\u200f",
    "\ufeff",
    "\U0001f4da",
    "\U0010ffff",
    "\ud800",  # a lone surrogate: sent as its UTF-8-ish bytes (not valid UTF-8)
    "\udfff",
]


def _deep(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


#: Deep documents: past the interpreter's recursion limit, and just past our own limit.
DEEP_JSON = [_deep(d, k) for d in (33, 1_500, 9_000) for k in ("array", "object")]
CLASSES: dict[str, list[str]] = {
    "quotes": QUOTES,
    "backslashes": BACKSLASHES,
    "controls": CONTROLS,
    "non_ascii": NON_ASCII,
    "deep_json": DEEP_JSON,
}


def _insert(valid: str, odd: str, where: str) -> str:
    if where == "alone" or not valid:
        return odd
    cut = {"start": 0, "second": 1, "middle": len(valid) // 2, "end": len(valid)}[where]
    return valid[:cut] + odd + valid[cut:]


@st.composite
def hostile(draw: Callable[..., Any], kind: str, valid: str) -> str:
    """A value of class ``kind``: alone, or put into ``valid`` (start, after the first
    character, middle, end)."""
    pieces = draw(st.lists(st.sampled_from(CLASSES[kind]), min_size=1, max_size=3))
    where = draw(st.sampled_from(["alone", "start", "second", "middle", "end"]))
    return _insert(valid, "".join(pieces), where)


#: Tried first for every parameter, whatever hypothesis draws: the worst of each class.
#: A browser drops tabs and line breaks and reads ``\`` as ``/``, so these go after the
#: first character too (``/`` + tab + ``/evil`` is ``//evil`` to a browser).
CANONICAL: dict[str, list[tuple[str, str]]] = {
    "quotes": [('"', "end"), ('"', "second"), ("'", "alone")],
    "backslashes": [("\\", "second"), ("\\", "end"), ("\\u0000", "alone")],
    "controls": [("\t", "second"), ("\n", "alone"), ("\r\n", "end"), ("\x00", "middle")],
    "non_ascii": [("é", "end"), ("図書館", "alone"), ("\ud800", "end"), ("\u202e", "second")],
    "deep_json": [(DEEP_JSON[2], "alone"), (DEEP_JSON[5], "alone"), (DEEP_JSON[0], "alone")],
}


def with_canonical(test: Any, kind: str, valid: str) -> Any:
    """``test`` with the class's canonical values as explicit examples."""
    for odd, where in CANONICAL[kind]:
        test = example(value=_insert(valid, odd, where))(test)
    return test


def encode(value: str) -> str:
    """Percent-encode any text (lone surrogates as their surrogate-pass bytes)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# --- the endpoints ---------------------------------------------------------------------


@dataclass
class Endpoint:
    """One endpoint: how to call it with a mapping of parameters, and their valid values."""

    path: str
    method: str
    params: dict[str, str]
    #: "query", "form" or "json" (where the parameters travel).
    carrier: str = "form"
    #: Answers in JSON (the protocol's format) instead of HTML pages.
    is_json: bool = False
    #: Needs a signed-in browser.
    signed_in: bool = False
    #: Parameters carried in the query string on top of the form (e.g. ``next``).
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: A valid request issues a token (client credentials): the tables may grow.
    issues_tokens: bool = False


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


AUTHORIZE = {
    "response_type": "code",
    "client_id": "portal",
    "redirect_uri": REDIRECT_URI,
    "scope": "openid profile",
    "state": "state-1",
    "nonce": "nonce-1",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
    "prompt": "login",
    "max_age": "60",
    "ui_locales": "ja",
    "login_hint": "0300000001",
    "response_mode": "query",
}
ENDPOINTS: dict[str, Endpoint] = {
    "authorize-get": Endpoint("/authorize", "GET", AUTHORIZE, carrier="query"),
    "authorize-post": Endpoint("/authorize", "POST", AUTHORIZE),
    "token-code": Endpoint(
        "/token",
        "POST",
        {
            "grant_type": "authorization_code",
            "code": "no-such-code",
            "redirect_uri": REDIRECT_URI,
            "code_verifier": "v" * 43,
        },
        is_json=True,
        headers={"Authorization": _basic("portal", PORTAL_SECRET)},
    ),
    "token-post-auth": Endpoint(
        "/token",
        "POST",
        {
            "grant_type": "refresh_token",
            "refresh_token": "no-such-token",
            "scope": "openid",
            "client_id": "portal",
            "client_secret": PORTAL_SECRET,
        },
        is_json=True,
    ),
    "token-client-credentials": Endpoint(
        "/token",
        "POST",
        {"grant_type": "client_credentials", "scope": "patron:authenticate"},
        is_json=True,
        issues_tokens=True,
        headers={"Authorization": _basic("machine", MACHINE_SECRET)},
    ),
    "revoke": Endpoint(
        "/revoke",
        "POST",
        {"token": "no-such-token", "token_type_hint": "refresh_token"},
        is_json=True,
        headers={"Authorization": _basic("portal", PORTAL_SECRET)},
    ),
    "introspect": Endpoint(
        "/introspect",
        "POST",
        {"token": "no-such-token", "token_type_hint": "access_token"},
        is_json=True,
        headers={"Authorization": _basic("portal", PORTAL_SECRET)},
    ),
    "userinfo": Endpoint("/userinfo", "POST", {"access_token": "no-such-token"}, is_json=True),
    "logout-get": Endpoint(
        "/logout",
        "GET",
        {
            # Empty: no hint, so the confirmation page (which echoes the query) is drawn.
            "id_token_hint": "",
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "bye",
            "client_id": "portal",
            "logout_hint": "x",
            "ui_locales": "en",
            "endpoint": "x",
        },
        carrier="query",
    ),
    "logout-confirm": Endpoint(
        "/logout",
        "POST",
        {"confirm": "1", "client_id": "portal", "post_logout_redirect_uri": POST_LOGOUT_URI},
        signed_in=True,
    ),
    "login": Endpoint(
        "/login",
        "POST",
        # The right password: an odd ``next`` is followed after a successful login.
        {"card_number": "0300000001", "password": DEFAULT_PASSWORD, "rid": ""},
        # Off-site as it stands (dropped); an odd character after its first "/" must not
        # make a browser read it as a path on this site, nor break the redirect.
        query={"next": "//evil.example/phish"},
    ),
    "login-cancel": Endpoint("/login/cancel", "POST", {"rid": "no-such-rid"}),
    "consent": Endpoint(
        "/authorize/consent", "POST", {"rid": "no-such-rid", "allow": "1"}, signed_in=True
    ),
    "reissue-request": Endpoint(
        "/password/reissue", "POST", {"card_number": "0300000001", "email": "x@example.org"}
    ),
    "reissue-form": Endpoint(
        "/password/new", "POST", {"new_password": "kasidasi77", "new_password_confirm": "x"}
    ),
    "password-change": Endpoint(
        "/password/change",
        "POST",
        {
            "current_password": "wrong-password",
            "new_password": "kasidasi77",
            "new_password_confirm": "kasidasi77",
        },
        signed_in=True,
    ),
    "account": Endpoint(
        "/account",
        "POST",
        {"email": "taro@example.org", "email2": "", "notify_due_date": "y"},
        signed_in=True,
    ),
    "patrons-authenticate": Endpoint(
        "/api/patrons/authenticate",
        "POST",
        {"card_number": "0300000001", "password": "wrong-password", "patron_ip": "192.0.2.7"},
        carrier="json",
        is_json=True,
    ),
    "card-verify": Endpoint(
        "/api/card/verify", "POST", {"code": "0300000001123456"}, carrier="json", is_json=True
    ),
    "card-barcode": Endpoint("/api/card/barcode", "GET", {"lang": "ja"}, carrier="query"),
    "home-lang": Endpoint("/", "GET", {"lang": "en"}, carrier="query"),
}
#: Path parameters: the value is the last path segment.
PATH_ENDPOINTS = {
    "reissue-link": "/password/reissue/",
    "verify-email": "/account/verify-email/",
}


def _counts() -> dict[str, int]:
    models = (Patron, Client, Token, AuthorizationCode, Consent)
    counts = {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in models
    }
    db.session.rollback()
    return {k: int(v or 0) for k, v in counts.items()}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Let every odd value reach the code that reads it instead of the per-source limits.
    for key in (
        "IDP_THROTTLE_IP_PER_MINUTE",
        "IDP_THROTTLE_NET_PER_MINUTE",
        "IDP_THROTTLE_IP_FAILURES_PER_DAY",
        "IDP_THROTTLE_NET_FAILURES_PER_DAY",
    ):
        app_config[key] = 0
    # Nor the card's: its failures are all free and never lock it.
    app_config["IDP_THROTTLE_CARD_FREE_FAILURES"] = 1_000_000
    app_config["IDP_THROTTLE_CARD_LOCK_AFTER"] = 0
    return app_config


@pytest.fixture
def world(app: Flask, portal: Any, patron: Any) -> dict[str, Any]:
    """The clients, the patron, a machine token; the counts every request must leave alone."""
    make_client(
        "machine",
        secret=MACHINE_SECRET,
        scopes=["patron:authenticate", "card:verify"],
        grant_types=["client_credentials"],
        redirect_uris=[],
        post_logout_redirect_uris=[],
    )
    browser = app.test_client()
    token = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "patron:authenticate card:verify"},
        headers={"Authorization": _basic("machine", MACHINE_SECRET)},
    ).get_json()["access_token"]
    return {"token": token, "counts": _counts()}


def _signed_in_browser(app: Flask) -> FlaskClient:
    browser = app.test_client()
    page = browser.get("/login")
    done = browser.post(
        "/login",
        data={
            "card_number": "0300000001",
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    assert done.status_code == 302, done.status_code
    return browser


def _form_token(browser: FlaskClient, endpoint: Endpoint) -> str:
    page = browser.get("/logout" if endpoint.path == "/logout" else "/login")
    return csrf_token(page.get_data(as_text=True))


def _send(
    browser: FlaskClient, endpoint: Endpoint, params: dict[str, str], token: str, csrf: str
) -> Any:
    headers = dict(endpoint.headers)
    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in endpoint.query.items())
    if endpoint.carrier == "json":
        headers["Authorization"] = "Bearer " + token
        body = params.pop("__body__", None)
        raw = params.pop("__raw__", None)  # (name, JSON text) put in as a value, unquoted
        if raw is not None:
            params[raw[0]] = "__RAW__"
        data = body if body is not None else json.dumps(params, ensure_ascii=False)
        if raw is not None:
            data = data.replace('"__RAW__"', raw[1])
        return browser.open(
            endpoint.path,
            method=endpoint.method,
            data=data.encode("utf-8", "surrogatepass"),
            content_type="application/json",
            headers=headers,
        )
    encoded = "&".join(f"{encode(k)}={encode(v)}" for k, v in params.items())
    if endpoint.carrier == "query":
        return browser.open(f"{endpoint.path}?{encoded}", method=endpoint.method, headers=headers)
    if not endpoint.is_json:
        encoded += f"&csrf_token={encode(csrf)}"
    return browser.open(
        f"{endpoint.path}?{query}" if query else endpoint.path,
        method=endpoint.method,
        data=encoded.encode(),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def browser_reads(location: str) -> str:
    """A Location as a browser reads it (WHATWG URL): tabs and line breaks dropped,
    C0 controls and spaces trimmed, backslashes read as slashes."""
    kept = "".join(c for c in location if c not in "\t\n\r")
    return kept.strip("".join(map(chr, range(0x21)))).replace("\\", "/")


def _check(response: Any, endpoint_is_json: bool) -> None:
    body = response.get_data(as_text=True)[:500]
    assert response.status_code < 500, body
    if response.status_code in (301, 302, 303, 307, 308):
        location = browser_reads(response.headers["Location"])
        assert location.startswith(("/", REDIRECT_URI, POST_LOGOUT_URI)), location
        assert not location.startswith("//"), location
        return
    if endpoint_is_json:
        assert response.mimetype == "application/json", body
        if response.status_code >= 400:
            assert isinstance(response.get_json().get("error"), str)
    elif response.status_code != 204:
        assert response.mimetype in ("text/html", "image/svg+xml", "application/json"), body


def _slots(endpoint: Endpoint) -> list[str]:
    """What gets the odd value: each parameter, a parameter's name, the JSON body itself."""
    slots = [*endpoint.params, *(f"?{name}" for name in endpoint.query), "<name>"]
    if endpoint.carrier == "json":
        slots.append("<body>")
    return slots


@dataclass
class Caller:
    """A browser calling one endpoint, with the CSRF token of its session."""

    browser: FlaskClient
    endpoint: Endpoint
    token: str
    counts: dict[str, int]
    csrf: str = ""

    def call(self, slot: str, kind: str, value: str) -> None:
        """Send the endpoint's valid request with ``value`` in ``slot``; check the answer."""
        endpoint = self.endpoint
        params: dict[str, Any] = dict(endpoint.params)
        target = Endpoint(**{**endpoint.__dict__, "query": dict(endpoint.query)})
        if slot == "<name>":
            params[value] = "1"
        elif slot == "<body>":
            params["__body__"] = value
        elif slot.startswith("?"):
            target.query[slot[1:]] = value
        elif kind == "deep_json" and endpoint.carrier == "json":
            params["__raw__"] = (slot, value)  # the nested document as the value
        else:
            params[slot] = value
        response = _send(self.browser, target, params, self.token, self.csrf)
        if endpoint.path == "/login" and response.status_code == 302:
            self.csrf = _form_token(self.browser, endpoint)  # a login rotates it
        _check(response, endpoint.is_json)
        if not endpoint.issues_tokens:
            assert _counts() == self.counts

    def fuzz(self, slot: str, kind: str) -> None:
        """The canonical values of ``kind``, then hypothesis's, in ``slot``."""
        if slot == "<body>" or (kind == "deep_json" and self.endpoint.carrier == "json"):
            valid = ""  # the document alone: anything around it fails before parsing
        else:
            valid = self.endpoint.params.get(slot) or self.endpoint.query.get(slot[1:], "") or "x"

        @PER_CLASS
        @given(value=hostile(kind, valid))
        def run(value: str) -> None:
            self.call(slot, kind, value)

        with_canonical(run, kind, valid)()


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_parameter_gets_every_class(app: Flask, world: dict[str, Any], name: str) -> None:
    endpoint = ENDPOINTS[name]
    browser = _signed_in_browser(app) if endpoint.signed_in else app.test_client()
    caller = Caller(browser, endpoint, world["token"], world["counts"])
    if not endpoint.is_json:
        caller.csrf = _form_token(browser, endpoint)
    tried = set()
    for slot in _slots(endpoint):
        for kind in CLASSES:
            caller.fuzz(slot, kind)
            tried.add((slot, kind))
    assert len(tried) == len(_slots(endpoint)) * len(CLASSES)


@pytest.mark.parametrize("prefix", sorted(PATH_ENDPOINTS.values()))
def test_path_parameters_get_every_class(
    client: FlaskClient, world: dict[str, Any], prefix: str
) -> None:
    for kind in CLASSES:

        @PER_CLASS
        @given(value=hostile(kind, "eyJwIjoxLCJ2IjoxfQ.aGVsbG8.c2lnbmF0dXJl"))
        def run(value: str) -> None:
            response = client.get(prefix + encode(value)[:4000])
            _check(response, False)
            assert response.status_code in (400, 404, 413, 414)
            assert _counts() == world["counts"]

        with_canonical(run, kind, "eyJwIjoxLCJ2IjoxfQ.aGVsbG8.c2lnbmF0dXJl")()


@pytest.mark.parametrize("header", ["Accept-Language", "Cookie", "X-Request-ID", "User-Agent"])
def test_headers_get_every_class(client: FlaskClient, world: dict[str, Any], header: str) -> None:
    valid = {"Cookie": "idp_session=abc", "Accept-Language": "ja"}.get(header, "x")
    for kind in CLASSES:

        @PER_CLASS
        @given(value=hostile(kind, valid))
        def run(value: str) -> None:
            # A header carries bytes: UTF-8 seen as Latin-1, line breaks cannot be sent.
            raw = value.encode("utf-8", "surrogatepass").decode("latin-1")
            raw = raw.replace("\r", " ").replace("\n", " ")[:6000]
            for path in ("/login", "/authorize?client_id=portal", "/userinfo"):
                _check(client.get(path, headers={header: raw}), path == "/userinfo")
            assert _counts() == world["counts"]

        with_canonical(run, kind, valid)()
