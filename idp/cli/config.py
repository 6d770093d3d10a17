"""``idp config``: the settings' documentation and the values in effect."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from idp.services.container import container
from idp.settings import Settings
from idp.settings.docs import markdown_table
from idp.settings.docs import replace_table
from idp.settings.load import section_specs
from idp.settings.load import sections

#: Settings whose values ``idp config show`` never prints.
_SECRETS = {"IDP_SECRET_KEY", "IDP_CARD_CODE_SECRET", "IDP_EZPROXY_SECRET", "IDP_METRICS_TOKEN"}


@click.group("config")
def config_group() -> None:
    """Settings (IDP_* environment variables)."""


@config_group.command("docs")
@click.option(
    "--write",
    "readme",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Replace the table between the settings-table markers of this file.",
)
def docs_command(readme: Path | None) -> None:
    """Print the settings table (Markdown), or write it into README.md."""
    if readme is None:
        click.echo(markdown_table())
        return
    readme.write_text(replace_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    click.echo(f"Settings table written to {readme}")


@config_group.command("show")
def show_command() -> None:
    """Print every setting in effect (checked at start; secrets are not shown)."""
    settings = container().settings
    for name, section in sections(Settings):
        values = dataclasses.asdict(getattr(settings, name))
        for item, _, spec in section_specs(section):
            value = values[item.name]
            if isinstance(value, tuple):
                value = ",".join(str(part) for part in value)
            shown = "(set)" if spec.key in _SECRETS and value else repr(value)
            click.echo(f"{spec.key}={shown}")
