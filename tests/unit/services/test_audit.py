"""Both audit writers clean a row the same way: the ORM one and the token paths' Core one."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.services import audit

DIRTY: dict[str, Any] = {
    "ip": "203.0.113.9\x00",
    "user_agent": "agent\x00" + "x" * 400,
    "token": "never-stored",
    "next": "https://idp.example/password/reissue/abcdef0123456789",
}


def _stored(event: str) -> AuditEvent:
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.event == event))
    assert row is not None
    return row


def _write_with_session(event: str) -> None:
    audit.record(event, **DIRTY)
    db.session.commit()


def _write_on_a_connection(event: str) -> None:
    with db.engine.connect() as connection:
        audit.record_in(connection, event, **DIRTY)
        connection.commit()


@pytest.mark.parametrize("write", [_write_with_session, _write_on_a_connection])
def test_a_row_has_no_nul_no_forbidden_key_and_no_one_time_link(app: Flask, write: Any) -> None:
    write("test.cleaned")
    row = _stored("test.cleaned")
    assert row.ip == "203.0.113.9"
    assert row.user_agent is not None
    assert "\x00" not in row.user_agent
    assert len(row.user_agent) == 300
    assert "token" not in row.detail
    assert row.detail["next"] == "https://idp.example/password/reissue/[redacted]"
