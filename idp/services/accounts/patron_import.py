"""Bulk import of patrons from CSV: how a library moves its patrons over (SPEC §6).

Columns: ``card_number,password,temporary,expires_on,name,email`` (header row). Every row
is validated; bad rows are reported with their line number and skipped; existing cards
are left untouched, so importing the same file twice changes nothing, and an interrupted
import carries on where it stopped when run again. Passwords are hashed on every core
(:mod:`idp.services.passwords`).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.accounts.patrons import PatronError
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.patrons import is_valid_card_number
from idp.services.accounts.patrons import normalize_password
from idp.services.accounts.patrons import temporary_expiry
from idp.services.cards.numbers import normalize_card_number
from idp.services.container import container
from idp.services.passwords import HashParams
from idp.services.passwords import HashStats
from idp.services.passwords import generate_temporary_password
from idp.services.passwords import hash_chunks

COLUMNS = ["card_number", "password", "temporary", "expires_on", "name", "email"]
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
#: Hash and commit every this many patrons, so an interrupted import keeps what it did.
BATCH = 50


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: (card number, generated temporary password) for the notices; never stored.
    temporary_passwords: list[tuple[str, str]] = field(default_factory=list)
    #: Hashing processes used, the time spent hashing in them, and the whole duration.
    jobs: int = 1
    hashing: HashStats = field(default_factory=HashStats)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Patrons created per second."""
        return self.created / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class _Row:
    card_number: str
    password: str | None
    temporary: bool
    expires_on: dt.date
    name: str | None
    email: str | None


def _parse(record: dict[str, str | None]) -> _Row:
    def value(key: str) -> str:
        return (record.get(key) or "").strip()

    card = normalize_card_number(value("card_number"))
    if not card:
        raise PatronError("card_number is empty")
    if not is_valid_card_number(card):
        raise PatronError("card_number does not match the configured pattern or check digit")
    flag = value("temporary").lower()
    if flag not in _TRUE | _FALSE:
        raise PatronError("temporary must be true or false")
    password = normalize_password(record.get("password") or "") or None
    temporary = flag in _TRUE or password is None
    if password is not None and not (1 <= len(password) <= 256):
        raise PatronError("password is longer than 256 characters")
    try:
        expires_on = dt.date.fromisoformat(value("expires_on"))
    except ValueError:
        raise PatronError("expires_on must be a date like 2028-11-30") from None
    name = value("name") or None
    if name is not None and len(name) > 200:
        raise PatronError("name is longer than 200 characters")
    email = value("email") or None
    if email is not None and not _EMAIL.fullmatch(email):
        raise PatronError("email is not an e-mail address")
    return _Row(card, password, temporary, expires_on, name, email)


def import_patrons(
    lines: Iterable[str],
    *,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    on_commit: Callable[[list[tuple[str, str]]], None] | None = None,
) -> ImportReport:
    """Import patrons from CSV text lines.

    Rows are validated first; cards already in the database are skipped (so an import
    that was interrupted is resumed by running it again); the passwords of the new rows
    are hashed in ``jobs`` processes and the patrons stored every :data:`BATCH` rows.

    :param progress: called with the number of rows done so far.
    :param jobs: hashing processes (1: in this process).
    :param on_commit: called after each commit with that batch's (card number, generated
        temporary password) pairs, so that an interrupted import has handed out the
        passwords of everything it stored.
    :return: counts, row errors, the generated temporary passwords and the timing.
    """
    # Long on purpose: one streaming loop whose batching, hashing pool, resume check and
    # per-batch commit share the loop's state; pieces would pass it all around.
    started = time.perf_counter()
    report = ImportReport(jobs=max(1, jobs))
    reader = csv.DictReader(lines)
    missing = [c for c in ("card_number", "expires_on") if c not in (reader.fieldnames or [])]
    if missing:
        report.errors.append((1, f"missing columns: {', '.join(missing)}"))
        return report
    rows: list[_Row] = []
    seen: set[str] = set()
    for record in reader:
        try:
            row = _parse(record)
            if row.card_number in seen:
                raise PatronError("card_number appears twice in this file")
            seen.add(row.card_number)
            rows.append(row)
        except PatronError as exc:
            report.errors.append((reader.line_num, str(exc)))
    done = len(report.errors)
    batches: list[list[tuple[_Row, str | None]]] = []
    length = container().settings.accounts.temporary_password_length
    for offset in range(0, len(rows), BATCH):
        batch = rows[offset : offset + BATCH]
        existing = set(
            db.session.scalars(
                select(Patron.card_number).where(
                    Patron.card_number.in_([r.card_number for r in batch])
                )
            )
        )
        report.unchanged += len(existing)
        done += len(existing)
        todo = [
            (r, None if r.password is not None else generate_temporary_password(length))
            for r in batch
            if r.card_number not in existing
        ]
        if todo:
            batches.append(todo)
    if progress is not None:
        progress(done)
    settings = container().settings
    params = HashParams(
        time_cost=settings.accounts.argon2_time_cost,
        memory_cost=settings.accounts.argon2_memory_cost,
        parallelism=settings.accounts.argon2_parallelism,
    )
    chunks = ([r.password or generated or "" for r, generated in b] for b in batches)
    workers = report.jobs if len(batches) > 1 else 1
    hashed = hash_chunks(chunks, params, jobs=workers, stats=report.hashing)
    for stored, hashes in zip(batches, hashed, strict=True):
        generated = _store(stored, hashes, report)
        if on_commit is not None and generated:
            on_commit(generated)
        done += len(stored)
        if progress is not None:
            progress(done)
    report.seconds = time.perf_counter() - started
    return report


def _patron(row: _Row, password_hash: str, generated: str | None) -> Patron:
    now = container().now()
    temporary = generated is not None or row.temporary
    return Patron(
        card_number=row.card_number,
        password_hash=password_hash,
        is_temporary_password=temporary,
        temporary_password_expires_at=temporary_expiry(now) if temporary else None,
        expires_on=row.expires_on,
        name=row.name,
        email=row.email,
    )


def _store(
    batch: list[tuple[_Row, str | None]], hashes: list[str], report: ImportReport
) -> list[tuple[str, str]]:
    """Insert one batch and commit; return its generated temporary passwords."""
    generated = [(r.card_number, g) for r, g in batch if g is not None]
    try:
        db.session.add_all([_patron(r, h, g) for (r, g), h in zip(batch, hashes, strict=True)])
        db.session.commit()
        report.created += len(batch)
    except IntegrityError:
        # Another import stored some of these cards meanwhile: one by one, skipping them.
        db.session.rollback()
        generated = []
        for (row, password), password_hash in zip(batch, hashes, strict=True):
            if find_patron(row.card_number) is not None:
                report.unchanged += 1
                continue
            db.session.add(_patron(row, password_hash, password))
            try:
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                report.unchanged += 1
                continue
            report.created += 1
            if password is not None:
                generated.append((row.card_number, password))
    report.temporary_passwords.extend(generated)
    return generated
