"""What an operator reads: times in the library's zone, the temporary password's
validity, the demo passwords' real state, and no log chatter between the lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskCliRunner

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.container import container

ROOT = Path(__file__).resolve().parents[2]


def test_issue_prints_until_when_the_temporary_password_works(runner: FlaskCliRunner) -> None:
    args = ["patrons", "issue", "--card", "0300000100", "--expires", "2028-11-30"]
    text = runner.invoke(args=args)
    assert text.exit_code == 0, text.output
    [line] = [ln for ln in text.output.splitlines() if ln.startswith("Usable until:")]
    assert line.endswith("+09:00 (JST)"), line
    data = json.loads(
        runner.invoke(args=["patrons", "reset-password", "0300000100", "--json"]).output
    )
    assert data["temporary_password_expires_at"].endswith("+09:00")


def test_audit_prints_times_in_the_library_zone(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["patrons", "issue", "--card", "0300000100", "--expires", "2028-11-30"])
    rows = [
        json.loads(line)
        for line in runner.invoke(args=["audit", "--json"]).output.split("\n")
        if line
    ]
    assert rows and all(row["time"].endswith("+09:00") for row in rows)


def test_demo_says_when_the_demo_password_was_changed(runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["demo"]).output
    assert "0300000000 / 12345678" in first
    patron = db.session.scalar(db.select(Patron).where(Patron.card_number == "0300000000"))
    assert patron is not None
    patron.password_hash = container().passwords.hash("hon2468")
    patron.password_changed_at = container().now()
    db.session.commit()
    again = runner.invoke(args=["demo", "--if-empty"]).output
    assert "0300000000 / 12345678" not in again
    assert "0300000000 / password changed on" in again and "make demo-reset" in again
    runner.invoke(args=["demo"])  # what `make demo-reset` runs
    assert "0300000000 / 12345678" in runner.invoke(args=["demo", "--if-empty"]).output


def test_commands_print_only_their_own_output(tmp_path: Path) -> None:
    """A real ``idp`` process: no Alembic chatter at init, no audit lines amid the output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_INSTANCE_DIR=str(tmp_path / "instance"), IDP_KEYS_DIR=str(tmp_path / "keys"))
    idp = str(Path(sys.executable).parent / "idp")
    init = subprocess.run(  # noqa: S603 - our own command line
        [idp, "init"], env=env, capture_output=True, text=True, check=True
    )
    assert init.stderr == "", init.stderr
    issue = subprocess.run(  # noqa: S603 - our own command line
        [idp, "patrons", "issue", "--card", "0300000100", "--expires", "2028-11-30"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Temporary password:" in issue.stdout
    assert issue.stderr == "", issue.stderr
