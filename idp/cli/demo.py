"""``idp demo``: the demo data of ``make run`` (never for production)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func
from sqlalchemy import select

from idp.cli.sip2 import DEMO_TERMINAL_SECRETS
from idp.cli.times import library_time
from idp.extensions import db
from idp.models.patron import Patron
from idp.services.accounts.patrons import issue_patron
from idp.services.clients import load_client_files
from idp.services.clients import sync_clients
from idp.services.container import container
from idp.services.signin import matches_current_password

#: The seed notice's example patron, with its temporary password.
DEMO_TEMPORARY = ("0300000000", "12345678")
#: A patron who has already chosen a password.
DEMO_READY = ("0300000001", "yomu2468")
DEMO_EXPIRES = dt.date(2028, 11, 30)
#: Demo client secrets, used only when the clients' variables are unset.
DEMO_SECRETS = {
    "MYLIBRARY_CLIENT_SECRET": "mylibrary-demo-secret-not-for-production-0001",
    "DLIBRARY_CLIENT_SECRET": "d-library-demo-secret-not-for-production-0002",
    "CIRCULATION_DESK_CLIENT_SECRET": "circulation-desk-demo-secret-not-for-production",
    "PORTAL_CLIENT_SECRET": "example-portal-demo-secret-not-for-production-03",
    "EBOOK_VENDOR_API_CLIENT_SECRET": "ebook-vendor-api-demo-secret-not-for-production-04",
}


def load_demo(*, only_if_empty: bool = False) -> bool:
    """Create the demo patrons and clients.

    :param only_if_empty: do nothing when the database already has patrons.
    :return: True when data was loaded.
    """
    if only_if_empty and db.session.scalar(select(func.count(Patron.id))):
        return False
    import os

    env = {**DEMO_SECRETS, **os.environ}
    sync_clients(load_client_files(Path(container().settings.site.clients_dir), env))
    passwords = container().passwords
    card, temporary = DEMO_TEMPORARY
    patron = db.session.scalar(select(Patron).where(Patron.card_number == card))
    if patron is None:
        patron, _ = issue_patron(card, DEMO_EXPIRES, name="図書館 花子")
    patron.password_hash = passwords.hash(temporary)
    patron.is_temporary_password = True
    patron.temporary_password_expires_at = None
    card, password = DEMO_READY
    ready = db.session.scalar(select(Patron).where(Patron.card_number == card))
    if ready is None:
        ready, _ = issue_patron(card, DEMO_EXPIRES, name="図書館 太郎", password=password)
    ready.password_hash = passwords.hash(password)
    ready.is_temporary_password = False
    db.session.commit()
    return True


def _demo_password_state(card: str, password: str) -> str:
    """The demo password, or when the patron changed it (``make demo-reset`` restores it)."""
    patron = db.session.scalar(select(Patron).where(Patron.card_number == card))
    if patron is None:
        return "(not in this database)"
    if matches_current_password(patron, password):
        return password
    changed = patron.password_changed_at
    when = f" on {library_time(changed)}" if changed else ""
    return f"password changed{when}; `make demo-reset` (idp demo) restores {password}"


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Only load into a database with no patrons.")
@with_appcontext
def demo_command(if_empty: bool) -> None:
    """Load demo patrons and the example clients (with demo secrets)."""
    loaded = load_demo(only_if_empty=if_empty)
    issuer = container().settings.site.issuer
    if loaded:
        click.echo("Demo data loaded.")
    click.echo(f"\n  Library IdP at {issuer}/")
    for label, (card, password) in (
        ("Patron with a temporary password:", DEMO_TEMPORARY),
        ("Patron with a chosen password:   ", DEMO_READY),
    ):
        click.echo(f"  {label} {card} / {_demo_password_state(card, password)}")
    click.echo(f"  Discovery: {issuer}/.well-known/openid-configuration")
    click.echo("  Demo client secrets (only when the variables are unset):")
    for name, value in DEMO_SECRETS.items():
        click.echo(f"    {name}={value}")
    click.echo("  SIP2 responder: idp sip2 serve --demo (terminals/sip2.toml), demo passwords:")
    for name, value in DEMO_TERMINAL_SECRETS.items():
        click.echo(f"    {name}={value}")
    click.echo("  WARNING: demo data and secrets are for trying the product, never production.\n")
