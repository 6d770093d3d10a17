"""``idp staff`` and the operator in the audit rows of ``idp patrons`` (``--staff`` or OS user)."""

from __future__ import annotations

import getpass
import json
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from tests.staff.conftest import StaffUser


def _events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_add_list_disable_enable(runner: FlaskCliRunner, app: Any) -> None:
    added = runner.invoke(args=["staff", "add", "hana", "--role", "supervisor", "--branch", "東"])
    assert added.exit_code == 0 and "/staff/enrol/" in added.output
    assert "24" in added.output or "Usable once" in added.output
    listed = runner.invoke(args=["staff", "list", "--json"])
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert row["username"] == "hana" and row["role"] == "supervisor"
    assert row["state"] == "enrolling" and row["branch"] == "東"
    assert runner.invoke(args=["staff", "disable", "hana"]).exit_code == 0
    assert "disabled" in runner.invoke(args=["staff", "list"]).output
    assert runner.invoke(args=["staff", "enable", "hana"]).exit_code == 0
    [created] = _events("staff.created")
    assert created.actor == getpass.getuser() and created.detail["os_user"] == getpass.getuser()


def test_add_refuses_bad_input(runner: FlaskCliRunner, app: Any) -> None:
    assert runner.invoke(args=["staff", "add", "ok", "--role", "boss"]).exit_code == 2
    assert runner.invoke(args=["staff", "add", "no spaces", "--role", "counter"]).exit_code == 1
    runner.invoke(args=["staff", "add", "taken", "--role", "counter"])
    again = runner.invoke(args=["staff", "add", "TAKEN", "--role", "counter"])
    assert again.exit_code == 1 and "already taken" in again.output
    assert runner.invoke(args=["staff", "disable", "ghost"]).exit_code == 1


def test_patron_commands_record_the_staff_member(
    runner: FlaskCliRunner, counter_user: StaffUser, patron: Any
) -> None:
    result = runner.invoke(
        args=[
            "patrons",
            "renew",
            patron.card_number,
            "--expires",
            "2032-01-01",
            "--staff",
            "kaori",
            "--reason",
            "renewal by phone",
        ]
    )
    assert result.exit_code == 0, result.output
    [renewed] = _events("patron.renewed")
    assert renewed.actor == "kaori" and renewed.detail["role"] == "counter"
    assert renewed.detail["channel"] == "cli" and renewed.detail["reason"] == "renewal by phone"
    assert renewed.detail["os_user"] == getpass.getuser()
    unknown = runner.invoke(args=["patrons", "unlock", patron.card_number, "--staff", "nobody"])
    assert unknown.exit_code == 1 and "no active staff member" in unknown.output


def test_patron_commands_without_staff_record_the_os_user(
    runner: FlaskCliRunner, patron: Any
) -> None:
    result = runner.invoke(args=["patrons", "reset-password", patron.card_number, "--json"])
    assert result.exit_code == 0, result.output
    [reset] = _events("password.reset")
    assert reset.actor == getpass.getuser() and reset.detail["channel"] == "cli"
    issued = runner.invoke(
        args=["patrons", "issue", "--card", "0300000321", "--expires", "2030-01-01"]
    )
    assert issued.exit_code == 0, issued.output
    [patron_issued] = _events("patron.issued")
    assert patron_issued.actor == getpass.getuser()


def test_audit_command_filters_by_staff(
    runner: FlaskCliRunner, counter_user: StaffUser, patron: Any
) -> None:
    runner.invoke(
        args=["patrons", "unlock", patron.card_number, "--staff", "kaori", "--reason", "x"]
    )
    runner.invoke(args=["patrons", "show", patron.card_number])
    result = runner.invoke(args=["audit", "--staff", "kaori", "--json"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["event"] for r in rows] == ["patron.unlocked"]
    assert rows[0]["actor"] == "kaori" and rows[0]["detail"]["reason"] == "x"
