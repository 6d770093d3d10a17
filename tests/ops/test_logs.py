"""Request ids and the access line: sane ids kept, no query strings, no secrets."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.logs import JsonFormatter
from idp.logs import TextFormatter
from idp.logs import configure_logging
from tests.conftest import PORTAL_SECRET
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access records of the test, as the JSON formatter writes them."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "idp.access"
    ]


def test_a_sane_incoming_request_id_is_echoed_and_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="idp.access"):
        response = client.get("/healthz", headers={"X-Request-ID": "lb-2f9c1e7a-0001"})
    assert response.headers["X-Request-ID"] == "lb-2f9c1e7a-0001"
    (line,) = access_lines(caplog)
    assert line["request_id"] == "lb-2f9c1e7a-0001"
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["endpoint"] == "health.healthz"
    assert isinstance(line["duration_ms"], float)
    assert line["logger"] == "idp.access" and line["level"] == "info"


@pytest.mark.parametrize(
    "incoming",
    ["", "short", "x" * 200, 'evil;Set-Cookie=a=b"<x>', "id with spaces", "ｉｄ１２３４５６７８９"],
)
def test_an_odd_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming} if incoming else {})
    generated = response.headers["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)


def test_every_response_gets_a_fresh_id(client: FlaskClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
    assert "X-Request-ID" in client.get("/no-such-page").headers


def test_forked_workers_make_different_ids() -> None:
    """Ids are drawn without a system call; each forked worker draws its own."""
    import multiprocessing

    from idp.logs import request_id_for

    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        ids = pool.map(request_id_for, [""] * 4, chunksize=1)
    ids.append(request_id_for(""))
    assert len(set(ids)) == len(ids)
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)


def test_the_time_of_a_line_follows_the_clock_across_seconds() -> None:
    import datetime as dt

    from idp.logs import _utc_time

    start = dt.datetime(2026, 12, 5, 23, 59, 58, tzinfo=dt.UTC).timestamp()
    for offset, expected in [
        (0.0, "2026-12-05T23:59:58.000+00:00"),
        (0.25, "2026-12-05T23:59:58.250+00:00"),
        (1.5, "2026-12-05T23:59:59.500+00:00"),
        (2.0015, "2026-12-06T00:00:00.001+00:00"),
        (0.75, "2026-12-05T23:59:58.750+00:00"),  # a thread's record made a second before
    ]:
        assert _utc_time(start + offset) == expected


def test_the_access_line_has_no_query_string_and_names_the_client(
    client: FlaskClient, portal: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="idp.access"):
        client.get(
            "/authorize",
            query_string={"client_id": "portal", "code": "SECRET-CODE-123", "state": "S-T-A-T-E"},
        )
    (line,) = access_lines(caplog)
    assert line["path"] == "/authorize"
    assert line["client_id"] == "portal"
    text = json.dumps(line)
    assert "SECRET-CODE-123" not in text and "S-T-A-T-E" not in text


def test_the_token_endpoint_line_names_the_basic_client_but_no_secret(
    client: FlaskClient, portal: Any, caplog: pytest.LogCaptureFixture
) -> None:
    basic = base64.b64encode(f"portal:{PORTAL_SECRET}".encode()).decode()
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "NOT-A-REAL-CODE-42"},
            headers={"Authorization": f"Basic {basic}"},
        )
    assert response.status_code == 400
    (line,) = access_lines(caplog)
    assert line["client_id"] == "portal" and line["status"] == 400
    everything = caplog.text + json.dumps(line)
    assert PORTAL_SECRET not in everything and "NOT-A-REAL-CODE-42" not in everything


def test_no_password_or_card_secret_in_any_log_line(
    client: FlaskClient, patron: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        post_login(client, patron.card_number, DEFAULT_PASSWORD)
        post_login(client, patron.card_number, "wrong-guess-77")
    formatted = [JsonFormatter().format(r) for r in caplog.records]
    formatted += [TextFormatter().format(r) for r in caplog.records]
    assert formatted
    assert not any(DEFAULT_PASSWORD in line or "wrong-guess-77" in line for line in formatted)


def test_log_lines_written_during_a_request_carry_its_id(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/_probe")
    def probe() -> str:
        logging.getLogger("idp.probe").warning("inside the request")
        return "ok"

    configure_logging("json", "INFO")
    root = logging.getLogger()
    (handler,) = [h for h in root.handlers if h.get_name() == "idp"]
    try:
        with caplog.at_level(logging.INFO):
            rid = client.get("/_probe", headers={"X-Request-ID": "probe-0123456789"}).headers[
                "X-Request-ID"
            ]
        record = next(r for r in caplog.records if r.name == "idp.probe")
        assert handler.filter(record)
        line = json.loads(handler.format(record))
        assert line["request_id"] == rid == "probe-0123456789"
        assert line["message"] == "inside the request"
    finally:
        root.removeHandler(handler)


def test_text_format_is_readable(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.makeLogRecord({"name": "idp.x", "levelname": "INFO", "msg": "hello"})
    assert "INFO idp.x [None] hello" in TextFormatter().format(record)


@pytest.mark.parametrize(("key", "value"), [("IDP_LOG_FORMAT", "xml"), ("IDP_LOG_LEVEL", "LOUD")])
def test_unknown_log_settings_refuse_to_start(
    app_config: dict[str, Any], key: str, value: str
) -> None:
    from idp import create_app
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match=key):
        create_app({**app_config, key: value})


def test_the_development_server_never_logs_query_strings(caplog: pytest.LogCaptureFixture) -> None:
    from werkzeug.serving import WSGIRequestHandler

    configure_logging("text", "INFO")
    root = logging.getLogger()
    try:
        handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
        handler.command, handler.request_version = "GET", "HTTP/1.1"
        handler.path = "/callback?code=SECRET-CODE-9&state=s"
        handler.client_address = ("127.0.0.1", 5000)
        handler.address_string = lambda: "127.0.0.1"  # type: ignore[method-assign]
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            handler.log_request(200, 10)
            logging.getLogger("werkzeug").info(" * Running on http://127.0.0.1:5000")
        assert "SECRET-CODE-9" not in caplog.text
        assert "Running on" in caplog.text
    finally:
        for found in [h for h in root.handlers if h.get_name() == "idp"]:
            root.removeHandler(found)
