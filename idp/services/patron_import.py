"""Bulk import of patrons from CSV: how a library moves its patrons over (SPEC §6).

Columns: ``card_number,password,temporary,expires_on,name,email`` (header row). Every row
is validated; bad rows are reported with their line number and skipped; existing cards
are left untouched, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from idp.context import services
from idp.extensions import db
from idp.services.card_numbers import normalize_card_number
from idp.services.patrons import PatronError
from idp.services.patrons import find_patron
from idp.services.patrons import is_valid_card_number
from idp.services.patrons import issue_patron
from idp.services.patrons import normalize_password
from idp.services.patrons import temporary_expiry

COLUMNS = ["card_number", "password", "temporary", "expires_on", "name", "email"]
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
#: Commit every this many patrons, so an interrupted import keeps what it did.
BATCH = 200


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: (card number, generated temporary password) for the notices; never stored.
    temporary_passwords: list[tuple[str, str]] = field(default_factory=list)


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
    lines: Iterable[str], *, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import patrons from CSV text lines.

    :param progress: called with the number of rows done so far.
    :return: counts, row errors and the generated temporary passwords.
    """
    report = ImportReport()
    reader = csv.DictReader(lines)
    missing = [c for c in ("card_number", "expires_on") if c not in (reader.fieldnames or [])]
    if missing:
        report.errors.append((1, f"missing columns: {', '.join(missing)}"))
        return report
    seen: set[str] = set()
    for index, record in enumerate(reader, start=1):
        line = reader.line_num
        try:
            row = _parse(record)
            if row.card_number in seen:
                raise PatronError("card_number appears twice in this file")
            seen.add(row.card_number)
            if find_patron(row.card_number) is not None:
                report.unchanged += 1
            else:
                patron, generated = issue_patron(
                    row.card_number,
                    row.expires_on,
                    name=row.name,
                    email=row.email,
                    password=None if row.password is None else row.password,
                )
                if row.password is not None and row.temporary:
                    # A temporary password carried over from the old system.
                    patron.is_temporary_password = True
                    patron.temporary_password_expires_at = temporary_expiry(services().now())
                if generated is not None:
                    report.temporary_passwords.append((row.card_number, generated))
                report.created += 1
        except PatronError as exc:
            report.errors.append((line, str(exc)))
        if index % BATCH == 0:
            db.session.commit()
        if progress is not None:
            progress(index)
    db.session.commit()
    return report
