"""Bad input never breaks it (SPEC §7): property-based requests to every endpoint and form.

Random and hostile values — NUL, lone surrogates and broken escapes sent percent-encoded,
RTL marks, full-width digits, huge values, wrong types, missing and repeated parameters,
odd headers and cookies — must give a 4xx (or a harmless 2xx) in the protocol's format:
JSON with ``error`` at the JSON endpoints, a redirect only to a registered URI or an
HTML page at ``/authorize`` and ``/logout``, HTML pages for forms. Nothing changes in the
tables that matter. Derandomized, so CI sees the same examples every run.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
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
from tests.support.oidc import csrf_token

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REDIRECT_URI = "https://portal.example.org/callback"
POST_LOGOUT_URI = "https://portal.example.org/"

#: Values that broke, or could break, someone's parser; sent as they are (already encoded).
RAW_VALUES = [
    "%00",
    "%ED%A0%80",  # a lone surrogate, UTF-8 encoded: not valid UTF-8
    "%ED%BF%BF",
    "%FF%FE",
    "%C0%AF",  # overlong "/"
    "%",
    "%zz",
    "%E2%80%AE",  # RTL override
    "%EF%BC%90%EF%BC%93",  # full-width 03
    "a%0D%0ALocation:%20https://attacker.example/",
    "https%3A%2F%2Fattacker.example%2F",
    "%2F%2Fattacker.example",
    "javascript:alert(1)",
    "S256",
    "plain",
    "code",
    "token",
    "none",
    "login",
    "openid",
    "-1",
    "99999999999999999999999",
    "1e308",
    "NaN",
]
ODD_TEXT = st.sampled_from(
    [
        "\x00",
        "\u202e0300000001",
        "\u200f",
        "０３００－０００－００１",
        "ｐａｓｓ",
        "𠮷野家",
        "\ufeff",
        "\U0010ffff",
        "' OR 1=1 --",
        "<script>x</script>",
        "../../etc/passwd",
        "{}",
        "[]",
        "null",
        "true",
        " ",
    ]
)
TEXT = st.one_of(
    st.text(max_size=40),
    ODD_TEXT,
    st.integers().map(str),
    st.text(alphabet="0123456789", min_size=3000, max_size=9000),  # huge values
)


@st.composite
def encoded_value(draw: Callable[..., Any]) -> str:
    if draw(st.booleans()):
        return str(draw(st.sampled_from(RAW_VALUES)))
    return quote(draw(TEXT), safe="")


def query(names: list[str]) -> st.SearchStrategy[str]:
    """A raw query string: known and unknown names, missing, repeated, odd values."""
    name = st.one_of(st.sampled_from(names), st.text(min_size=1, max_size=8).map(quote))
    pair = st.tuples(name, encoded_value()).map(lambda kv: f"{kv[0]}={kv[1]}")
    bare = name  # a parameter without "="
    return st.lists(st.one_of(pair, bare), max_size=12).map("&".join)


def header_value(text: str) -> str:
    """Any text as a header value can carry it: UTF-8 bytes seen as Latin-1, no line breaks."""
    raw = text.encode("utf-8", "surrogatepass").decode("latin-1")
    return raw.replace("\r", " ").replace("\n", " ")


COMMON_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Accept-Language": st.one_of(st.text(max_size=30), st.just("ja;q=abc, en;q=-1, *")),
        "User-Agent": st.text(max_size=500),
        "Cookie": st.one_of(
            st.text(alphabet="abcdef0123456789-_=;", max_size=300).map(
                lambda v: f"idp_session={v}"
            ),
            st.just("idp_session=" + "A" * 5000),
        ),
        "X-Forwarded-For": st.text(max_size=40),
    },
).map(lambda headers: {k: header_value(v) for k, v in headers.items()})

TOKEN_NAMES = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "client_id",
    "client_secret",
    "scope",
    "token",
    "token_type_hint",
    "access_token",
]
AUTHORIZE_NAMES = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "ui_locales",
    "request",
    "request_uri",
    "response_mode",
    "id_token_hint",
    "login_hint",
]
LOGOUT_NAMES = ["id_token_hint", "post_logout_redirect_uri", "state", "client_id", "confirm"]
FORM_NAMES = ["card_number", "password", "rid", "csrf_token", "allow", "deny", "confirm"]


def _counts() -> dict[str, int]:
    models = (Patron, Client, Token, AuthorizationCode, Consent)
    counts = {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in models
    }
    db.session.rollback()
    return {k: int(v or 0) for k, v in counts.items()}


def _basic(secret: str = PORTAL_SECRET) -> str:
    return "Basic " + base64.b64encode(f"portal:{secret}".encode()).decode()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Let every odd value reach the password check instead of the per-source limits.
    for key in (
        "IDP_THROTTLE_IP_PER_MINUTE",
        "IDP_THROTTLE_NET_PER_MINUTE",
        "IDP_THROTTLE_IP_FAILURES_PER_DAY",
        "IDP_THROTTLE_NET_FAILURES_PER_DAY",
    ):
        app_config[key] = 0
    return app_config


@pytest.fixture
def world(app: Flask, portal: Any, patron: Any) -> dict[str, int]:
    """The registered client and a patron; the counts every request must leave alone."""
    return _counts()


def _assert_json_error(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    body = response.get_json()
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str)


def _assert_page_or_safe_redirect(response: Any, allowed: tuple[str, ...]) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        assert location.startswith(("/", *allowed)), location
        assert not location.startswith("//")
    else:
        assert response.mimetype == "text/html"


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_token_endpoints_answer_bad_input_in_json_and_change_nothing(
    client: FlaskClient, world: dict[str, int], path: str
) -> None:
    @FUZZ
    @given(
        body=query(TOKEN_NAMES),
        auth=st.sampled_from([None, _basic(), _basic("wrong"), "Basic %%%", "Bearer x"]),
        content_type=st.sampled_from(
            ["application/x-www-form-urlencoded", "application/json", "text/plain", ""]
        ),
        headers=COMMON_HEADERS,
    )
    def run(body: str, auth: str | None, content_type: str, headers: dict[str, str]) -> None:
        if auth:
            headers = {**headers, "Authorization": auth}
        response = client.post(path, data=body.encode(), content_type=content_type, headers=headers)
        _assert_json_error(response)
        assert _counts() == world

    run()


def test_token_endpoint_refuses_json_bodies_of_wrong_types(
    client: FlaskClient, world: dict[str, int]
) -> None:
    @FUZZ
    @given(
        st.dictionaries(
            st.sampled_from(TOKEN_NAMES),
            st.one_of(st.integers(), st.lists(st.text()), st.none(), st.booleans(), st.floats()),
        )
    )
    def run(payload: dict[str, Any]) -> None:
        response = client.post("/token", json=payload, headers={"Authorization": _basic()})
        _assert_json_error(response)
        assert response.status_code >= 400
        assert _counts() == world

    run()


def test_userinfo_answers_bad_tokens_in_json(client: FlaskClient, world: dict[str, int]) -> None:
    @FUZZ
    @given(
        method=st.sampled_from(["GET", "POST"]),
        body=query(["access_token"]),
        auth=st.one_of(
            st.none(),
            st.text(max_size=60).map(lambda t: "Bearer " + t),
            st.sampled_from(["Bearer", "Basic x", "bearer  ", "Bearer " + "x" * 5000]),
        ),
        headers=COMMON_HEADERS,
    )
    def run(method: str, body: str, auth: str | None, headers: dict[str, str]) -> None:
        if auth is not None:
            headers = {**headers, "Authorization": header_value(auth)}
        response = client.open(
            "/userinfo?" + body if method == "GET" else "/userinfo",
            method=method,
            data=body.encode() if method == "POST" else None,
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
        _assert_json_error(response)
        assert response.status_code in (400, 401, 403)
        assert _counts() == world

    run()


def test_authorize_redirects_only_to_the_registered_uri_or_shows_a_page(
    client: FlaskClient, world: dict[str, int]
) -> None:
    base = f"client_id=portal&redirect_uri={quote(REDIRECT_URI, safe='')}&response_type=code"

    @FUZZ
    @given(
        extra=query(AUTHORIZE_NAMES),
        with_client=st.booleans(),
        method=st.sampled_from(["GET", "POST"]),
        headers=COMMON_HEADERS,
    )
    def run(extra: str, with_client: bool, method: str, headers: dict[str, str]) -> None:
        raw = f"{base}&{extra}" if with_client else extra
        if method == "GET":
            response = client.get("/authorize?" + raw, headers=headers)
        else:
            response = client.post(
                "/authorize",
                data=raw.encode(),
                content_type="application/x-www-form-urlencoded",
                headers=headers,
            )
        _assert_page_or_safe_redirect(response, (REDIRECT_URI,))
        location = response.headers.get("Location", "")
        if location.startswith(REDIRECT_URI):
            assert "error=" in location and "iss=" in location  # nobody is signed in
        assert _counts() == world

    run()


@pytest.mark.parametrize("with_csrf", [True, False])
def test_login_form_survives_any_input_and_signs_nobody_in(
    client: FlaskClient, world: dict[str, int], with_csrf: bool
) -> None:
    token = csrf_token(client.get("/login").get_data(as_text=True))

    @FUZZ
    @given(
        card=encoded_value(),
        password=encoded_value(),
        extra=query(FORM_NAMES),
        headers=COMMON_HEADERS,
        next_=encoded_value(),
    )
    def run(card: str, password: str, extra: str, headers: dict[str, str], next_: str) -> None:
        body = f"card_number={card}&password={password}&{extra}"
        if with_csrf:
            body = f"csrf_token={token}&{body}"
            headers.pop("Cookie", None)  # keep the session the token belongs to
        response = client.post(
            f"/login?next={next_}",
            data=body.encode(),
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
        assert response.status_code in (400, 401, 403, 429), response.status_code
        seen.add(response.status_code)
        assert response.mimetype == "text/html"
        assert _counts() == world

    seen: set[int] = set()
    run()
    assert db.session.scalar(select(Patron.last_login_at)) is None
    if with_csrf:
        assert 401 in seen  # the odd values did reach the password check


@pytest.mark.parametrize("path", ["/authorize/consent", "/logout", "/signout", "/", "/login"])
def test_pages_survive_any_query_and_form(
    client: FlaskClient, world: dict[str, int], path: str
) -> None:
    @FUZZ
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
        raw=query(FORM_NAMES + LOGOUT_NAMES),
        headers=COMMON_HEADERS,
    )
    def run(method: str, raw: str, headers: dict[str, str]) -> None:
        response = client.open(
            f"{path}?{raw}",
            method=method,
            data=raw.encode() if method in ("POST", "PUT") else None,
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
        if method == "OPTIONS":
            assert response.status_code < 500
            return
        if method != "HEAD":
            _assert_page_or_safe_redirect(response, (POST_LOGOUT_URI,))
        assert response.status_code < 500
        assert _counts() == world

    run()


def test_unknown_paths_are_404_in_the_right_format(client: FlaskClient) -> None:
    @FUZZ
    @given(
        prefix=st.sampled_from(["/", "/api/", "/token/", "/.well-known/", "/static/"]),
        rest=st.one_of(encoded_value(), st.text(max_size=30).map(lambda t: quote(t, safe="/"))),
    )
    def run(prefix: str, rest: str) -> None:
        response = client.get(prefix + rest)
        assert response.status_code < 500
        if response.status_code == 404 and prefix in ("/api/", "/token/", "/.well-known/"):
            assert response.mimetype == "application/json"

    run()


def test_oversized_bodies_are_413_not_500(client: FlaskClient) -> None:
    big = b"a=" + b"x" * (70 * 1024)
    for path in ("/token", "/login", "/authorize"):
        response = client.post(path, data=big, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 413


def test_credential_check_api_answers_bad_input_in_json_and_changes_nothing(
    client: FlaskClient, world: dict[str, int]
) -> None:
    @FUZZ
    @given(
        body=st.one_of(query(["card_number", "password", "patron_ip"]), TEXT),
        auth=st.sampled_from([None, _basic(), "Bearer", "Bearer " + "x" * 600, "Basic %%%"]),
        content_type=st.sampled_from(["application/json", "text/plain", ""]),
        headers=COMMON_HEADERS,
    )
    def run(body: str, auth: str | None, content_type: str, headers: dict[str, str]) -> None:
        if auth:
            headers = {**headers, "Authorization": auth}
        response = client.post(
            "/api/patrons/authenticate",
            data=body.encode("utf-8", "surrogatepass"),
            content_type=content_type,
            headers=headers,
        )
        _assert_json_error(response)
        assert response.status_code in (400, 401, 403, 413)
        assert _counts() == world

    run()
