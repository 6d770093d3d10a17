"""``idp patrons``: staff commands — issue, import, counter reset, renew, status, show."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import TypeVar

import click
from flask.cli import with_appcontext

from idp.cli.operator import operator_options
from idp.cli.operator import resolve_actor
from idp.cli.operator import staff_option
from idp.cli.times import library_iso
from idp.cli.times import library_time
from idp.extensions import db
from idp.services.accounts.passkeys import passkeys_of
from idp.services.accounts.passkeys import remove_all_passkeys
from idp.services.accounts.patron_import import import_patrons
from idp.services.accounts.patrons import PatronError
from idp.services.accounts.patrons import find_patron
from idp.services.cards.notice import NoticeEntry
from idp.services.cards.notice import write_notices
from idp.services.staff import patron_actions

_NOTICE_FILE = click.Path(dir_okay=False, writable=True, path_type=Path)


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


T = TypeVar("T")


def _apply(
    action: Callable[..., T], *args: Any, operator: str | None, reason: str | None, **kwargs: Any
) -> T:
    """Run one card action as the operator, commit it, and turn refusals into errors."""
    actor = resolve_actor(operator)
    try:
        result = action(*args, actor=actor, reason=reason, **kwargs)
    except PatronError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    return result


@patrons.command("issue")
@click.option("--card", "card_number", required=True, help="Card number (digits).")
@click.option("--expires", required=True, callback=_date, help="Card expiry date, YYYY-MM-DD.")
@click.option("--name", default=None, help="Display name.")
@click.option("--email", default=None, help="E-mail address (unverified).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--notice", type=_NOTICE_FILE, help="Write the printable notice (HTML) here.")
@operator_options
@with_appcontext
def issue(
    card_number: str,
    expires: dt.date,
    name: str | None,
    email: str | None,
    as_json: bool,
    notice: Path | None,
    staff_username: str | None,
    reason: str | None,
) -> None:
    """Issue a card with a random temporary password, printed once."""
    patron, temporary = _apply(
        patron_actions.issue_card,
        card_number,
        expires,
        name=name,
        email=email,
        operator=staff_username,
        reason=reason,
    )
    until = patron.temporary_password_expires_at
    result = {
        "card_number": patron.card_number,
        "temporary_password": temporary,
        "expires_on": patron.expires_on.isoformat(),
        "temporary_password_expires_at": library_iso(until) if until else None,
    }
    if notice is not None and temporary is not None:
        write_notices(notice, [NoticeEntry.for_patron(patron, temporary)])
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"Card number:        {result['card_number']}")
    click.echo(f"Temporary password: {result['temporary_password']}")
    if until is not None:
        click.echo(f"Usable until:       {library_time(until)}")
    click.echo(f"Card expires on:    {result['expires_on']}")
    click.echo("The temporary password is shown only now; it cannot be recovered.")
    if notice is not None:
        click.echo(f"Notice written to {notice}")


@patrons.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--notices",
    type=_NOTICE_FILE,
    help="Write one printable notice file, a page per generated temporary password.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes hashing passwords (0: one per core).",
)
@staff_option
@with_appcontext
def import_command(file: Path, notices: Path | None, jobs: int, staff_username: str | None) -> None:
    """Import patrons from a CSV file (card_number,password,temporary,expires_on,name,email).

    Cards already present are skipped, so an interrupted import is resumed by running
    the same command again. Generated temporary passwords are printed as each batch is
    stored.
    """
    text = file.read_text(encoding="utf-8-sig")
    lines = text.splitlines(keepends=True)
    total = max(len(lines) - 1, 0)
    jobs = jobs or os.cpu_count() or 1

    def show(pairs: list[tuple[str, str]]) -> None:
        for card, password in pairs:
            click.echo(f"{card}\t{password}")

    if sys.stdout.isatty():
        with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
            done = [0]

            def advance(count: int) -> None:
                bar.update(count - done[0])
                done[0] = count

            report = import_patrons(lines, progress=advance, jobs=jobs, on_commit=show)
    else:
        report = import_patrons(lines, jobs=jobs, on_commit=show)
    for line, reason in report.errors:
        click.echo(f"line {line}: {reason}", err=True)
    resolve_actor(staff_username).audit(
        "patron.imported", created=report.created, errors=len(report.errors)
    )
    db.session.commit()
    click.echo(
        f"Created {report.created}, unchanged {report.unchanged}, errors {len(report.errors)}."
    )
    if report.created:
        cores = os.cpu_count() or 1
        bound = report.hashing.bound(cores)
        share = f" ({100 * report.rate / bound:.0f}% of it)" if bound else ""
        click.echo(
            f"{report.rate:.1f} patrons/s with {report.jobs} hashing processes; "
            f"Argon2 bound {bound:.1f} hashes/s on {cores} cores{share}."
        )
    if notices is not None and report.temporary_passwords:
        entries = []
        for card, password in report.temporary_passwords:
            patron = find_patron(card)
            if patron is not None:
                entries.append(NoticeEntry.for_patron(patron, password))
        write_notices(notices, entries)
        click.echo(f"Notices ({len(entries)} pages) written to {notices}")
    if report.errors:
        sys.exit(1 if not report.created and not report.unchanged else 0)


@patrons.command("unlock")
@click.argument("card")
@operator_options
@with_appcontext
def unlock(card: str, staff_username: str | None, reason: str | None) -> None:
    """Unlock a card locked after too many wrong passwords, and clear its delays."""
    actor = resolve_actor(staff_username)
    try:
        was_locked = patron_actions.unlock(card, actor=actor, reason=reason)
    except PatronError:
        raise click.ClickException(f"no patron with card number {card!r}") from None
    db.session.commit()
    state = "unlocked" if was_locked else "was not locked; failure counters cleared"
    click.echo(f"Card {patron_actions.patron_by_card(card).card_number}: {state}.")


@patrons.command("reset-password")
@click.argument("card_number")
@click.option("--notice", type=_NOTICE_FILE, help="Write the printable notice (HTML) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--remove-passkeys", is_flag=True, help="Also remove the patron's passkeys (a lost phone)."
)
@operator_options
@with_appcontext
def reset_password(
    card_number: str,
    notice: Path | None,
    as_json: bool,
    staff_username: str | None,
    reason: str | None,
    remove_passkeys: bool,
) -> None:
    """Counter reset: a new temporary password; ends the patron's sign-ins, clears a lock.

    The patron's passkeys stay (usable again once a new password is chosen) unless
    ``--remove-passkeys`` is given.
    """
    actor = resolve_actor(staff_username)
    try:
        patron, temporary = patron_actions.reset_password(card_number, actor=actor, reason=reason)
    except PatronError as exc:
        raise click.ClickException(str(exc)) from exc
    removed = remove_all_passkeys(patron.id, actor=actor) if remove_passkeys else 0
    db.session.commit()
    kept = len(passkeys_of(patron.id))
    if notice is not None:
        write_notices(notice, [NoticeEntry.for_patron(patron, temporary)])
    until = patron.temporary_password_expires_at
    if as_json:
        click.echo(
            json.dumps(
                {
                    "card_number": patron.card_number,
                    "temporary_password": temporary,
                    "temporary_password_expires_at": library_iso(until) if until else None,
                    "passkeys_removed": removed,
                    "passkeys_kept": kept,
                }
            )
        )
        return
    click.echo(f"Card number:        {patron.card_number}")
    click.echo(f"Temporary password: {temporary}")
    if until is not None:
        click.echo(f"Usable until:       {library_time(until)}")
    click.echo("Every session and token of this card has ended; any lock is cleared.")
    click.echo("The temporary password is shown only now; it cannot be recovered.")
    if removed:
        click.echo(f"Passkeys removed:   {removed}")
    if kept:
        click.echo(
            f"Passkeys kept:      {kept} (they work again once the patron has chosen a new "
            "password; --remove-passkeys removes them)"
        )
    if notice is not None:
        click.echo(f"Notice written to {notice}")


@patrons.command("renew")
@click.argument("card_number")
@click.option("--expires", required=True, callback=_date, help="New expiry date, YYYY-MM-DD.")
@operator_options
@with_appcontext
def renew(
    card_number: str, expires: dt.date, staff_username: str | None, reason: str | None
) -> None:
    """Renew a card: set its new expiry date."""
    patron = _apply(
        patron_actions.renew, card_number, expires, operator=staff_username, reason=reason
    )
    click.echo(f"Card {patron.card_number} now expires on {patron.expires_on.isoformat()}.")


@patrons.command("set-status")
@click.argument("card_number")
@click.argument("status")
@operator_options
@with_appcontext
def set_status(
    card_number: str, status: str, staff_username: str | None, reason: str | None
) -> None:
    """Set a card's status: active, suspended, lost or withdrawn."""
    patron = _apply(
        patron_actions.set_status, card_number, status, operator=staff_username, reason=reason
    )
    click.echo(f"Card {patron.card_number} is now {patron.status}.")
    if patron.status != "active":
        click.echo("Every session and token of this card has ended.")


@patrons.command("show")
@click.argument("card_number")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@staff_option
@with_appcontext
def show(card_number: str, as_json: bool, staff_username: str | None) -> None:
    """Show a card's status, expiry, e-mail, lock and last login (never a secret)."""
    actor = resolve_actor(staff_username)
    try:
        facts = patron_actions.describe(card_number, actor=actor)
    except PatronError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    if as_json:
        click.echo(json.dumps(facts, ensure_ascii=False))
        return
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        shown = "yes" if value is True else "no" if value is False else value
        click.echo(f"{key.replace('_', ' '):<{width}}  {'-' if shown is None else shown}")
