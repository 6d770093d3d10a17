"""One-time links stay out of every log, and database errors never show bound values."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.logs import JsonFormatter
from idp.logs import TextFormatter
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.redaction import redact
from idp.services import audit
from idp.services.accounts.reissue import reissue_tokens
from idp.services.accounts.self_service import email_tokens


@pytest.fixture
def links(app: Flask, patron: Any) -> dict[str, str]:
    """A live re-issue token and a live e-mail confirmation token of the patron."""
    with app.test_request_context():
        return {
            "reissue": reissue_tokens().dumps({"p": patron.id, "v": patron.password_version}),
            "verify": email_tokens().dumps({"p": patron.id, "a": "taro@example.org"}),
        }


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    json_lines = [JsonFormatter().format(r) for r in caplog.records]
    text_lines = [TextFormatter().format(r) for r in caplog.records]
    return json_lines + text_lines


@pytest.mark.parametrize(
    ("kind", "path"),
    [("reissue", "/password/reissue/"), ("verify", "/account/verify-email/")],
)
def test_the_access_line_shows_no_one_time_token(
    client: FlaskClient,
    links: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    kind: str,
    path: str,
) -> None:
    token = links[kind]
    with caplog.at_level(logging.INFO):
        client.get(path + token)
        client.get(path + token + "x")  # a broken one is redacted too
    access = [r for r in caplog.records if r.name == "idp.access"]
    assert [r.path for r in access] == [path + "[redacted]"] * 2  # type: ignore[attr-defined]
    for line in _lines(caplog):
        assert token not in line, line


def test_error_lines_tracebacks_and_extras_are_redacted(links: dict[str, str]) -> None:
    token = links["reissue"]
    logger = logging.getLogger("idp.test")
    try:
        raise RuntimeError(f"failed on /password/reissue/{token}")
    except RuntimeError:
        record = logger.makeRecord(
            "idp.test",
            logging.ERROR,
            __file__,
            1,
            "unhandled error on GET %s",
            (f"/account/verify-email/{token}",),
            exc_info=sys.exc_info(),
            extra={"url": f"https://idp.example/password/reissue/{token}?lang=en"},
        )
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert token not in line
        assert "/password/reissue/[redacted]" in line
    entry = json.loads(JsonFormatter().format(record))
    assert entry["url"] == "https://idp.example/password/reissue/[redacted]?lang=en"


def test_an_audit_detail_never_keeps_a_link(app: Flask, links: dict[str, str]) -> None:
    with app.test_request_context():
        audit.record("test.event", referer=f"/password/reissue/{links['reissue']}")
        db.session.commit()
        detail = db.session.scalar(
            select(AuditEvent.detail).where(AuditEvent.event == "test.event")
        )
    assert detail == {"referer": "/password/reissue/[redacted]"}


def test_redact_leaves_other_text_alone() -> None:
    assert redact("GET /password/reissue 200") == "GET /password/reissue 200"
    assert redact("/password/new") == "/password/new"
    assert redact("/account/verify-email/a.b-c_d e") == "/account/verify-email/[redacted] e"


def test_database_errors_never_show_the_values(app: Flask, patron: Any) -> None:
    """Neither SQLAlchemy's parameters nor PostgreSQL's DETAIL line reach a log line."""
    logger = logging.getLogger("idp.views.support.errors")
    with app.app_context():
        twin = Patron(
            card_number=patron.card_number,
            password_hash="$argon2id$v=19$m=19456,t=2,p=1$SECRET-HASH",
            name="x",
        )
        db.session.add(twin)
        try:
            db.session.flush()
        except IntegrityError as exc:
            caught = exc
            record = logger.makeRecord(
                logger.name, logging.ERROR, __file__, 1, "unhandled error", (), sys.exc_info()
            )
        db.session.rollback()
    assert "hide_parameters=True" in str(caught)  # SQLAlchemy never adds the values
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert "IntegrityError" in line
        assert "SECRET-HASH" not in line and patron.card_number not in line, line


def test_a_postgresql_detail_line_is_redacted() -> None:
    text = "DETAIL:  Key (card_number)=(0300000001) already exists.\n[SQL: INSERT …]"
    assert redact(text) == "DETAIL: [redacted]\n[SQL: INSERT …]"
    escaped = 'x DETAIL:  Failing row contains (1, 0300000001).\\n[SQL: …]"'
    assert "0300000001" not in redact(escaped)
