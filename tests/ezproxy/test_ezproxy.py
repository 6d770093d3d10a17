"""``POST /ezproxy/check`` answered as EZproxy reads it (``valid=+VALID``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp import create_app
from idp.config import ConfigError
from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.services.ezproxy import from_settings
from idp.settings import app_settings
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron

SECRET = "ezproxy-shared-secret-0123456789-abcdefgh"
EZPROXY_IP = "192.0.2.10"
PATH = "/ezproxy/check"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config.update(IDP_EZPROXY_SECRET=SECRET, IDP_EZPROXY_NETWORKS=f"{EZPROXY_IP}/32")
    return app_config


def ezproxy_says_valid(response: TestResponse) -> bool:
    """What EZproxy concludes: the valid string anywhere, case-insensitively (or
    its built-in ``webchkpass``)."""
    body = response.get_data(as_text=True).lower()
    return "+valid" in body or "webchkpass" in body


def ask(
    client: FlaskClient,
    user: str,
    password: str,
    *,
    secret: str | None = SECRET,
    caller: str = EZPROXY_IP,
    header: bool = False,
    **form: str,
) -> TestResponse:
    """What EZproxy sends for ``::external=…?secret=…,post=user=^u&pass=^p``."""
    query = {"secret": secret} if secret and not header else {}
    headers = {"X-EZproxy-Secret": secret} if secret and header else {}
    return client.post(
        PATH,
        query_string=query,
        data={"user": user, "pass": password, **form},
        headers={"User-Agent": "EZproxy", **headers},
        environ_base={"REMOTE_ADDR": caller},
    )


def audit_lines() -> list[tuple[str, str]]:
    return [
        (row.event, row.detail.get("outcome"))
        for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        if row.detail.get("channel") == "ezproxy"
    ]


def test_active_patron_with_permanent_password_is_valid(client: FlaskClient) -> None:
    patron = make_patron("0312345678")
    response = ask(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    assert ezproxy_says_valid(response)
    assert audit_lines() == [("login.ok", "ok")]


def test_secret_in_header_is_accepted(client: FlaskClient) -> None:
    patron = make_patron()
    assert ezproxy_says_valid(ask(client, patron.card_number, DEFAULT_PASSWORD, header=True))


def test_patron_address_from_ezproxy_is_audited(client: FlaskClient) -> None:
    patron = make_patron()
    response = ask(client, patron.card_number, DEFAULT_PASSWORD, ip="203.0.113.5")
    assert ezproxy_says_valid(response)
    row = db.session.scalars(select(AuditEvent)).one()
    assert row.ip == EZPROXY_IP
    assert row.detail["patron_ip"] == "203.0.113.5"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"temporary": True}, "temporary_password"),
        ({"status": "suspended"}, "suspended"),
        ({"status": "lost"}, "lost"),
        ({"expires_on": dt.date(2000, 1, 1)}, "card_expired"),
    ],
)
def test_patron_who_may_not_sign_in_is_not_valid(
    client: FlaskClient, fields: dict[str, Any], reason: str
) -> None:
    patron = make_patron(**fields)
    response = ask(client, patron.card_number, DEFAULT_PASSWORD)
    assert response.status_code == 200
    assert not ezproxy_says_valid(response)
    assert response.get_data(as_text=True) == f"-INVALID {reason}\n"
    assert audit_lines() == [("login.refused", reason)]


def test_wrong_password_and_unknown_card_are_not_valid(client: FlaskClient) -> None:
    patron = make_patron()
    wrong = ask(client, patron.card_number, "not-the-password")
    unknown = ask(client, "0399999999", DEFAULT_PASSWORD)
    for response in (wrong, unknown):
        assert not ezproxy_says_valid(response)
        assert response.get_data(as_text=True) == "-INVALID invalid_credentials\n"
    assert audit_lines() == [("login.failed", "invalid_credentials")] * 2
    everything = " ".join(str(r.detail) for r in db.session.scalars(select(AuditEvent)))
    assert DEFAULT_PASSWORD not in everything and "not-the-password" not in everything


def test_core_throttles_guessing_on_one_card(client: FlaskClient) -> None:
    """The per-card delay of the core: after the free failures even the right password
    is refused unchecked (and not valid) until the delay has passed."""
    patron = make_patron()
    for _ in range(5):
        assert not ezproxy_says_valid(ask(client, patron.card_number, "wrong-guess"))
    response = ask(client, patron.card_number, DEFAULT_PASSWORD)
    assert not ezproxy_says_valid(response)
    assert response.get_data(as_text=True) == "-INVALID throttled\n"
    assert int(response.headers["Retry-After"]) > 0
    assert audit_lines()[-1] == ("login.throttled", "throttled")


def test_ezproxy_server_counts_against_its_allowance(app: Flask, client: FlaskClient) -> None:
    """Many patrons behind one EZproxy server pass the per-address limit (10 a minute)
    but not the server's own allowance."""
    settings = app_settings(app).with_values({"IDP_EZPROXY_CHECKS_PER_MINUTE": 15})
    app.extensions["idp"].ezproxy = from_settings(settings)
    patrons = [make_patron(f"03000000{i:02d}") for i in range(16)]
    answers = [ask(client, p.card_number, DEFAULT_PASSWORD) for p in patrons]
    assert all(ezproxy_says_valid(r) for r in answers[:15])
    assert answers[15].get_data(as_text=True) == "-INVALID throttled\n"


@pytest.mark.parametrize(
    ("secret", "ip"),
    [
        (None, EZPROXY_IP),
        ("wrong-secret-wrong-secret-wrong-secret-0", EZPROXY_IP),
        (SECRET, "198.51.100.99"),
    ],
)
def test_unconfigured_callers_are_refused_without_a_check(
    client: FlaskClient, secret: str | None, ip: str
) -> None:
    patron = make_patron()
    response = ask(client, patron.card_number, DEFAULT_PASSWORD, secret=secret, caller=ip)
    assert response.status_code == 403
    assert not ezproxy_says_valid(response)
    assert audit_lines() == []


@pytest.mark.parametrize(
    "form",
    [
        {"user": "", "pass": DEFAULT_PASSWORD},
        {"user": "0312345678", "pass": ""},
        {"user": "0312345678", "pass": "x" * 300},
        {"user": "0312345678", "pass": "p", "ip": "not-an-address"},
    ],
)
def test_malformed_form_is_400_and_checks_nothing(
    client: FlaskClient, form: dict[str, str]
) -> None:
    response = client.post(
        PATH,
        query_string={"secret": SECRET},
        data=form,
        environ_base={"REMOTE_ADDR": EZPROXY_IP},
    )
    assert response.status_code == 400
    assert not ezproxy_says_valid(response)
    assert audit_lines() == []


def test_endpoint_is_absent_without_a_secret(
    app_config: dict[str, Any], client: FlaskClient
) -> None:
    app_config["IDP_EZPROXY_SECRET"] = ""
    other = create_app(app_config)
    response = other.test_client().post(PATH, data={"user": "0312345678", "pass": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "setting",
    [
        {"IDP_EZPROXY_SECRET": "short"},
        {"IDP_EZPROXY_NETWORKS": "not-a-network"},
        {"IDP_EZPROXY_CHECKS_PER_MINUTE": 0},
    ],
)
def test_bad_settings_are_refused_at_start(
    app_config: dict[str, Any], setting: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match=next(iter(setting))):
        create_app({**app_config, **setting})
