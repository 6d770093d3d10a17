"""A click command whose module is imported only when it runs or shows its help.

Serving workers build the same Flask app as the ``idp`` command line; the commands'
modules (the import pool, the SIP2 server, Alembic with Mako) stay unimported there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click


class LazyCommand(click.Group):
    """Stands in for ``module.attribute`` (a command or group) until it is used.

    :param before_run: called with the command name just before the real command runs.
    """

    def __init__(
        self,
        name: str,
        module: str,
        attribute: str,
        help_text: str,
        *,
        before_run: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name=name, help=help_text)
        self._module = module
        self._attribute = attribute
        self._before_run = before_run

    def target(self) -> click.Command:
        """The real command."""
        command: click.Command = getattr(importlib.import_module(self._module), self._attribute)
        return command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if self._before_run is not None and self.name is not None:
            self._before_run(self.name)
        return self.target().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        target = self.target()
        return target.list_commands(ctx) if isinstance(target, click.Group) else []

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.target()
        return target.get_command(ctx, cmd_name) if isinstance(target, click.Group) else None
