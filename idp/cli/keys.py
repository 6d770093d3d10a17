"""``idp keys``: list, rotate and retire the signing keys."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.services.container import container
from idp.services.keys import KeyStoreError


@click.group("keys")
def keys() -> None:
    """Signing keys (JWKS)."""


@keys.command("list")
@with_appcontext
def list_keys() -> None:
    """Show the active key and the published ones."""
    state = container().keys.describe()
    companions = {kid: alg for alg, kid in (state.get("companions") or {}).items()}
    for kid in state["published"]:
        if kid == state["active"]:
            mark = "active"
        elif kid in companions:
            mark = f"active {companions[kid]}"
        else:
            mark = "published"
        click.echo(f"{kid}  {mark}")


@keys.command("rotate")
@with_appcontext
def rotate() -> None:
    """Make a new key active; the previous public key stays in the JWKS."""
    kid = container().keys.rotate()
    click.echo(f"New active key: {kid}")


@keys.command("retire")
@click.argument("kid")
@with_appcontext
def retire(kid: str) -> None:
    """Stop publishing an old key (after its tokens have expired)."""
    try:
        container().keys.retire(kid)
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Retired {kid}")
