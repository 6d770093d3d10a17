"""``idp init``: schema (through the migrations), keys and secret."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.services.container import container


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database schema; create the secret and keys if missing."""
    import logging

    # Alembic's progress lines (plugins, each revision) are noise for the operator; the
    # summary below says what they need. Errors still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from flask_migrate import upgrade

    upgrade()
    state = container().keys.describe()
    click.echo(f"Database ready: {str(container().settings.database.url).split('@')[-1]}")
    click.echo(f"Signing key: {state['active']}")
