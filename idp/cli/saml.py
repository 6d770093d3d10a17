"""``idp saml``: the SAML IdP's signing key (its certificate is in ``/saml/metadata``)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from idp.saml.keys import SamlKeyError
from idp.saml.keys import SamlKeys
from idp.saml.server import saml_state


def _keys() -> SamlKeys:
    return saml_state().keys


@click.group("saml")
def saml() -> None:
    """The SAML IdP's signing key."""


@saml.command("keys")
@with_appcontext
def list_keys() -> None:
    """Show the active key and the published certificates."""
    for index, pair in enumerate(_keys().published()):
        click.echo(f"{pair.name}  {'active' if index == 0 else 'published'}")


@saml.command("rotate-key")
@with_appcontext
def rotate() -> None:
    """Make a new key active; the previous certificate stays in the metadata."""
    click.echo(f"New active SAML key: {_keys().rotate()}")


@saml.command("retire-key")
@click.argument("name")
@with_appcontext
def retire(name: str) -> None:
    """Stop publishing an old certificate (once every SP has the new metadata)."""
    try:
        _keys().retire(name)
    except SamlKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Retired {name}")
