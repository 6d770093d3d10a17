"""Bad input to the credential-check API: 400 ``invalid_request`` in JSON, and no change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.models.throttle import ThrottleCounter
from tests.patron_api.conftest import PATH
from tests.support.factories import DEFAULT_PASSWORD

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
NOT_A_STRING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), JSON_SCALARS, max_size=3),
)
HUGE = st.text(alphabet="0123456789ａ", min_size=257, max_size=5000)


def _state() -> tuple[int, int, int, Any]:
    """What a bad request must leave alone: counters, audit, patrons' failure counts."""
    counts = (
        int(db.session.scalar(select(func.count()).select_from(ThrottleCounter)) or 0),
        int(db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0),
        int(db.session.scalar(select(func.sum(Patron.failed_login_count))) or 0),
        db.session.scalar(select(Patron.last_login_at)),
    )
    db.session.rollback()
    return counts


def _assert_invalid_request(response: Any) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert isinstance(body["error_description"], str)


@pytest.fixture
def post(client: FlaskClient, api_token: str) -> Any:
    def run(data: bytes, content_type: str = "application/json") -> Any:
        return client.post(
            PATH,
            data=data,
            content_type=content_type,
            headers={"Authorization": f"Bearer {api_token}"},
        )

    return run


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/json"),
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b'"0300000001"', "application/json"),
        (b"null", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b'{"card_number": "0300000001"}', "application/json"),
        (b'{"password": "honyomu42"}', "application/json"),
        (b'{"card_number": "", "password": "honyomu42"}', "application/json"),
        (b'{"card_number": "0300000001", "password": ""}', "application/json"),
        (b'{"card_number": 300000001, "password": "honyomu42"}', "application/json"),
        (b'{"card_number": "0300000001", "password": 42}', "application/json"),
        (b'{"card_number": "0300000001", "password": "\\ud800"}', "application/json"),
        (b'{"card_number": "0300\\u0000000001", "password": "x"}', "application/json"),
        (
            b'{"card_number": "0300000001", "password": "x", "patron_ip": "nope"}',
            "application/json",
        ),
        (b'{"card_number": "0300000001", "password": "x", "patron_ip": 1}', "application/json"),
        (b"card_number=0300000001&password=honyomu42", "application/x-www-form-urlencoded"),
        (b'{"card_number": "0300000001", "password": "honyomu42"}', "text/plain"),
    ],
)
def test_malformed_bodies_are_invalid_request(
    post: Any, patron: Patron, body: bytes, content_type: str
) -> None:
    before = _state()
    _assert_invalid_request(post(body, content_type))
    assert _state() == before


def test_huge_body_is_refused_in_json(post: Any, patron: Patron) -> None:
    before = _state()
    body = json.dumps({"card_number": "0300000001", "password": "x" * 100_000}).encode()
    response = post(body)
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"
    assert _state() == before


def test_any_wrong_types_or_sizes_are_invalid_request(post: Any, patron: Patron) -> None:
    before = _state()

    @FUZZ
    @given(
        card=st.one_of(NOT_A_STRING, st.just(""), HUGE.map(lambda s: s[:65] + s)),
        password=st.one_of(st.just(DEFAULT_PASSWORD), NOT_A_STRING, HUGE),
        bad_card=st.booleans(),
        extra=st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3),
    )
    def run(card: Any, password: Any, bad_card: bool, extra: dict[str, Any]) -> None:
        body = {**extra}
        if bad_card:
            body.update(card_number=card, password=DEFAULT_PASSWORD)
        else:
            body.update(card_number="0300000001", password=password)
        if not bad_card and password == DEFAULT_PASSWORD:
            body["password"] = "x" * 257
        body.pop("patron_ip", None)
        _assert_invalid_request(post(json.dumps(body).encode()))
        assert _state() == before

    run()


def test_any_bytes_never_break_it(post: Any, patron: Patron) -> None:
    @FUZZ
    @given(
        data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
        content_type=st.sampled_from(
            ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
        ),
    )
    def run(data: bytes, content_type: str) -> None:
        response = post(data, content_type)
        assert response.status_code in (200, 400), response.status_code
        assert response.mimetype == "application/json"
        assert db.session.scalar(select(Patron.last_login_at)) is None
        db.session.rollback()

    run()


def test_odd_but_well_typed_values_are_answered_not_broken(
    client: FlaskClient, api_token: str, patron: Patron
) -> None:
    @FUZZ
    @given(
        card=st.text(min_size=1, max_size=64).filter(lambda s: "\x00" not in s),
        password=st.text(min_size=1, max_size=256).filter(lambda s: "\x00" not in s),
    )
    def run(card: str, password: str) -> None:
        response = client.post(
            PATH,
            json={"card_number": card, "password": password},
            headers={"Authorization": f"Bearer {api_token}"},
            environ_base={"REMOTE_ADDR": "192.0.2.200"},
        )
        if response.status_code == 400:  # lone surrogates
            assert response.get_json()["error"] == "invalid_request"
            return
        assert response.status_code == 200
        assert response.get_json()["valid"] is False
        assert response.get_json()["reason"] in {"invalid_credentials", "throttled"}

    run()
