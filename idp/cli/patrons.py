"""``idp patrons``: staff commands for issuing cards, importing patrons, unlocking cards."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from idp.extensions import db
from idp.services import audit
from idp.services.card_numbers import normalize_card_number
from idp.services.patron_import import import_patrons
from idp.services.patrons import PatronError
from idp.services.patrons import find_patron
from idp.services.patrons import issue_patron
from idp.services.patrons import unlock_patron


@click.group("patrons")
def patrons() -> None:
    """Patrons and their library cards."""


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD, e.g. 2028-11-30") from None


@patrons.command("issue")
@click.option("--card", "card_number", required=True, help="Card number (digits).")
@click.option("--expires", required=True, callback=_date, help="Card expiry date, YYYY-MM-DD.")
@click.option("--name", default=None, help="Display name.")
@click.option("--email", default=None, help="E-mail address (unverified).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def issue(
    card_number: str, expires: dt.date, name: str | None, email: str | None, as_json: bool
) -> None:
    """Issue a card with a random temporary password, printed once."""
    try:
        patron, temporary = issue_patron(card_number, expires, name=name, email=email)
    except PatronError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.flush()
    audit.record("patron.issued", patron_id=patron.id)
    audit.record("password.temporary_issued", patron_id=patron.id)
    db.session.commit()
    result = {
        "card_number": patron.card_number,
        "temporary_password": temporary,
        "expires_on": patron.expires_on.isoformat(),
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"Card number:        {result['card_number']}")
    click.echo(f"Temporary password: {result['temporary_password']}")
    click.echo(f"Card expires on:    {result['expires_on']}")
    click.echo("The temporary password is shown only now; it cannot be recovered.")


@patrons.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_command(file: Path) -> None:
    """Import patrons from a CSV file (card_number,password,temporary,expires_on,name,email)."""
    text = file.read_text(encoding="utf-8-sig")
    lines = text.splitlines(keepends=True)
    total = max(len(lines) - 1, 0)
    if sys.stdout.isatty():
        with click.progressbar(length=total, label="Importing") as bar:
            done = [0]

            def advance(count: int) -> None:
                bar.update(count - done[0])
                done[0] = count

            report = import_patrons(lines, progress=advance)
    else:
        report = import_patrons(lines)
    for line, reason in report.errors:
        click.echo(f"line {line}: {reason}", err=True)
    audit.record("patron.imported", created=report.created, errors=len(report.errors), commit=True)
    click.echo(
        f"Created {report.created}, unchanged {report.unchanged}, errors {len(report.errors)}."
    )
    for card, password in report.temporary_passwords:
        click.echo(f"{card}\t{password}")
    if report.errors:
        sys.exit(1 if not report.created and not report.unchanged else 0)


@patrons.command("unlock")
@click.argument("card")
@with_appcontext
def unlock(card: str) -> None:
    """Unlock a card locked after too many wrong passwords, and clear its delays."""
    patron = find_patron(normalize_card_number(card))
    if patron is None:
        raise click.ClickException(f"no patron with card number {card!r}")
    was_locked = patron.locked_at is not None
    unlock_patron(patron)
    audit.record("patron.unlocked", patron_id=patron.id, channel="cli", was_locked=was_locked)
    db.session.commit()
    state = "unlocked" if was_locked else "was not locked; failure counters cleared"
    click.echo(f"Card {patron.card_number}: {state}.")
