"""The ``idp`` command: a Flask CLI group with the staff and operator commands."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from idp import create_app


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def main() -> None:
    """Library IdP: staff and operator commands."""


def _register() -> None:
    from idp.cli import clients
    from idp.cli import demo
    from idp.cli import keys
    from idp.cli import patrons
    from idp.cli import setup

    main.add_command(setup.init_command)
    main.add_command(patrons.patrons)
    main.add_command(clients.clients)
    main.add_command(keys.keys)
    main.add_command(demo.demo_command)


_register()
