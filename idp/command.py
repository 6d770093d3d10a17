"""The ``idp`` program: a Flask CLI group around the app factory, and ``idp serve``.

The commands themselves are registered by :func:`idp.cli.register_commands` when the
application is built.
"""

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


@main.command("serve", context_settings={"ignore_unknown_options": True})
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve_command(server_args: tuple[str, ...]) -> None:
    """Serve with granian (default) or gunicorn, IDP_SERVER (extra arguments go to it)."""
    import os
    import sys

    from idp.granian_conf import chosen_server
    from idp.granian_conf import granian_args
    from idp.settings import ConfigError

    try:
        server = chosen_server(os.environ)
        if server == "gunicorn":
            conf = ["-c", "python:idp.gunicorn_conf"]
            args = ["-m", "gunicorn", *conf, *server_args, "idp:create_app()"]
        else:
            args = granian_args(os.environ, server_args)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # Replaces this process (signals then reach the server's master directly); no shell.
    os.execv(sys.executable, [sys.executable, *args])  # noqa: S606
