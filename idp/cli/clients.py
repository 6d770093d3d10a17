"""``idp clients``: sync the client registration files into the database."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from idp.context import services
from idp.services.clients import ClientFileError
from idp.services.clients import load_client_files
from idp.services.clients import sync_clients


@click.group("clients")
def clients() -> None:
    """Relying parties."""


@clients.command("sync")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def sync(folder: Path | None) -> None:
    """Create and update clients from FOLDER/*.toml (default: IDP_CLIENTS_DIR)."""
    folder = folder or Path(services().config["IDP_CLIENTS_DIR"])
    try:
        specs = load_client_files(folder)
    except ClientFileError as exc:
        raise click.ClickException(str(exc)) from exc
    from idp.saml.registry import SamlFileError
    from idp.saml.registry import load_sp_files
    from idp.saml.registry import sync_sps

    try:
        sp_specs = load_sp_files(folder)
    except SamlFileError as exc:
        raise click.ClickException(str(exc)) from exc
    created, updated = sync_clients(specs)
    click.echo(
        f"Clients created: {', '.join(created) or '-'}; updated: {', '.join(updated) or '-'}"
    )
    if sp_specs:
        created, updated = sync_sps(sp_specs, services().now())
        click.echo(
            f"SAML service providers created: {', '.join(created) or '-'}; "
            f"updated: {', '.join(updated) or '-'}"
        )
