"""``idp clients``: sync the client registration files; enable or disable a client."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from idp.extensions import db
from idp.services.clients import ClientFileError
from idp.services.clients import UnknownClientError
from idp.services.clients import load_client_files
from idp.services.clients import set_client_enabled
from idp.services.clients import sync_clients
from idp.services.container import container


@click.group("clients")
def clients() -> None:
    """Relying parties."""


@clients.command("sync")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--prune",
    is_flag=True,
    help="Disable every client that has no file in FOLDER (and say which).",
)
@with_appcontext
def sync(folder: Path | None, prune: bool) -> None:
    """Create and update clients from FOLDER/*.toml (default: IDP_CLIENTS_DIR)."""
    folder = folder or Path(container().settings.site.clients_dir)
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
    result = sync_clients(specs, prune=prune)
    line = (
        f"Clients created: {', '.join(result.created) or '-'}; "
        f"updated: {', '.join(result.updated) or '-'}"
    )
    if prune:
        line += f"; disabled (no file): {', '.join(result.disabled) or '-'}"
    click.echo(line)
    if sp_specs:
        created, updated = sync_sps(sp_specs, container().now())
        click.echo(
            f"SAML service providers created: {', '.join(created) or '-'}; "
            f"updated: {', '.join(updated) or '-'}"
        )
    db.session.commit()


def _set_enabled(client_id: str, enabled: bool) -> None:
    try:
        changed = set_client_enabled(client_id, enabled)
    except UnknownClientError:
        raise click.ClickException(f"no client {client_id!r}") from None
    db.session.commit()
    state = "enabled" if enabled else "disabled"
    click.echo(f"Client {client_id} {state}." if changed else f"Client {client_id} was {state}.")


@clients.command("disable")
@click.argument("client_id")
@with_appcontext
def disable(client_id: str) -> None:
    """Disable CLIENT_ID: its sign-ins, codes and tokens stop working at once."""
    _set_enabled(client_id, False)


@clients.command("enable")
@click.argument("client_id")
@with_appcontext
def enable(client_id: str) -> None:
    """Enable CLIENT_ID again (tokens ended by disabling it stay ended)."""
    _set_enabled(client_id, True)
