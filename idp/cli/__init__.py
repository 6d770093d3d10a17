"""The ``idp`` command: a Flask CLI group with the staff and operator commands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup


def _create_app() -> Flask:
    from idp import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Library IdP: staff and operator commands."""


def register_commands(app: Flask) -> None:
    """Attach the ``idp`` commands to ``app.cli`` (so ``flask`` and tests see them too)."""
    from idp.cli import audit
    from idp.cli import clients
    from idp.cli import demo
    from idp.cli import keys
    from idp.cli import patrons
    from idp.cli import setup
    from idp.cli import sip2

    app.cli.add_command(setup.init_command)
    app.cli.add_command(patrons.patrons)
    app.cli.add_command(clients.clients)
    app.cli.add_command(keys.keys)
    app.cli.add_command(demo.demo_command)
    app.cli.add_command(audit.audit_command)
    app.cli.add_command(sip2.sip2)


@main.command("serve", context_settings={"ignore_unknown_options": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve_command(gunicorn_args: tuple[str, ...]) -> None:
    """Serve with gunicorn and idp/gunicorn_conf.py (extra arguments go to gunicorn)."""
    import os
    import sys

    args = ["-m", "gunicorn", "-c", "python:idp.gunicorn_conf", *gunicorn_args]
    # Replaces this process (signals then reach gunicorn's master directly); no shell.
    os.execv(sys.executable, [sys.executable, *args, "idp:create_app()"])  # noqa: S606
