"""``idp patrons import`` hashing on several processes, and resuming after an interruption."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func
from sqlalchemy import select

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.accounts import patron_import
from idp.services.accounts.patron_import import import_patrons
from idp.services.container import container
from idp.services.passwords import HashParams
from idp.services.passwords import HashStats
from idp.services.passwords import hash_chunks

ROWS = 130  # three batches of 50 and a partial one


def _csv(rows: int = ROWS) -> str:
    lines = ["card_number,password,temporary,expires_on,name,email"]
    for i in range(rows):
        # Every third row has no password: a temporary one is generated.
        password = "" if i % 3 == 0 else f"pass-{i:04d}"
        lines.append(f"07{i:08d},{password},false,2029-03-31,Patron {i},")
    return "\n".join(lines) + "\n"


def _count() -> int:
    return int(db.session.scalar(select(func.count(Patron.id))) or 0)


def _check_passwords(generated: dict[str, str], rows: int = ROWS) -> None:
    passwords = container().passwords
    for i in range(rows):
        card = f"07{i:08d}"
        patron = db.session.scalar(select(Patron).where(Patron.card_number == card))
        assert patron is not None, card
        if i % 3 == 0:
            assert patron.is_temporary_password
            assert passwords.verify(patron.password_hash, generated[card]), card
        else:
            assert not patron.is_temporary_password
            assert passwords.verify(patron.password_hash, f"pass-{i:04d}"), card


def test_hash_chunks_in_processes_keeps_the_order() -> None:
    params = HashParams(time_cost=1, memory_cost=256, parallelism=1)
    chunks = [[f"pw-{c}-{i}" for i in range(5)] for c in range(6)]
    stats = HashStats()
    hashed = list(hash_chunks(chunks, params, jobs=2, stats=stats))
    hasher = params.hasher()
    assert [len(h) for h in hashed] == [5] * 6
    for chunk, hashes in zip(chunks, hashed, strict=True):
        for password, encoded in zip(chunk, hashes, strict=True):
            assert hasher.verify(encoded, password)
    assert stats.hashed == 30 and stats.seconds > 0 and stats.bound(2) > 0


def test_parallel_import_creates_every_patron(app: Flask) -> None:
    report = import_patrons(_csv().splitlines(keepends=True), jobs=2)
    assert (report.created, report.unchanged, report.errors) == (ROWS, 0, [])
    assert report.jobs == 2 and report.hashing.hashed == ROWS and report.rate > 0
    generated = dict(report.temporary_passwords)
    assert len(generated) == len(range(0, ROWS, 3))
    _check_passwords(generated)


def test_cli_import_uses_the_processes_and_prints_the_rate(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "patrons.csv"
    path.write_text(_csv(), encoding="utf-8")
    result = runner.invoke(args=["patrons", "import", str(path), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert f"Created {ROWS}, unchanged 0, errors 0." in result.output
    assert "patrons/s with 2 hashing processes; Argon2 bound" in result.output
    generated = dict(
        line.split("\t") for line in result.output.splitlines() if line.startswith("07")
    )
    _check_passwords(generated)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("jobs", [1, 2])
def test_interrupted_import_resumes_without_duplicates(app: Flask, jobs: int) -> None:
    handed_out: dict[str, str] = {}
    commits = [0]

    def stop_after_two_batches(pairs: list[tuple[str, str]]) -> None:
        handed_out.update(pairs)

    def progress(done: int) -> None:
        commits[0] += 1
        if commits[0] == 3:  # the count before hashing, then two stored batches
            raise Interrupted

    lines = _csv().splitlines(keepends=True)
    with pytest.raises(Interrupted):
        import_patrons(lines, jobs=jobs, progress=progress, on_commit=stop_after_two_batches)
    db.session.rollback()
    assert _count() == 2 * patron_import.BATCH
    # The generated passwords of every stored row were handed out before the stop.
    assert len(handed_out) == len(range(0, 2 * patron_import.BATCH, 3))

    report = import_patrons(lines, jobs=jobs, on_commit=handed_out.update)
    assert report.unchanged == 2 * patron_import.BATCH
    assert report.created == ROWS - 2 * patron_import.BATCH
    assert _count() == ROWS
    _check_passwords(handed_out)

    again = import_patrons(lines, jobs=jobs)
    assert (again.created, again.unchanged) == (0, ROWS)
