"""``idp purge``: delete expired sessions, codes, tokens, counters and old audit events."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.services.container import container
from idp.services.purge import purge


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Delete what is no longer needed and print how many rows went, per table."""
    counts = purge(container().now(), container().settings, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for table, count in counts.items():
        click.echo(f"{table}\t{verb} {count}")
    click.echo(f"total\t{verb} {sum(counts.values())}")
