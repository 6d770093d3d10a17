"""The ``idp`` command: a Flask CLI group with the staff and operator commands."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from idp.lazy_command import LazyCommand


def _create_app() -> Flask:
    from idp import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Library IdP: staff and operator commands."""


#: The ``idp`` commands: name, module, attribute, one-line help. Their modules (and what
#: they import: the import pool, the SIP2 server…) load only when a command runs, not in
#: every serving worker.
_COMMANDS: list[tuple[str, str, str, str]] = [
    ("init", "idp.cli.setup", "init_command", "Create or upgrade the database schema."),
    ("patrons", "idp.cli.patrons", "patrons", "Patrons and their library cards."),
    ("clients", "idp.cli.clients", "clients", "Relying parties."),
    ("keys", "idp.cli.keys", "keys", "Signing keys (JWKS)."),
    (
        "demo",
        "idp.cli.demo",
        "demo_command",
        "Load demo patrons and the example clients (with demo secrets).",
    ),
    ("audit", "idp.cli.audit", "audit_command", "Print security events, oldest first."),
    (
        "purge",
        "idp.cli.purge",
        "purge_command",
        "Delete expired sessions, codes, tokens, counters and old audit events.",
    ),
    ("sip2", "idp.cli.sip2", "sip2", "SIP2 responder for e-book vendors and self-check."),
    ("staff", "idp.cli.staff", "staff", "Staff accounts of the web console (/staff)."),
    ("saml", "idp.cli.saml", "saml", "The SAML IdP's signing key."),
    ("config", "idp.cli.config", "config_group", "Settings: documentation and values in effect."),
]

#: Commands that keep serving: their audit lines stay in the log stream.
_SERVERS = {"sip2"}


def _quiet_audit(name: str) -> None:
    if name not in _SERVERS:
        # A one-shot command's own output is what the operator reads: its audit events go
        # to the audit table (``idp audit`` shows them), not between the lines it prints.
        import logging

        logging.getLogger("idp.audit").setLevel(logging.WARNING)


def register_commands(app: Flask) -> None:
    """Attach the ``idp`` commands to ``app.cli`` (so ``flask`` and tests see them too)."""
    for name, module, attribute, help_text in _COMMANDS:
        app.cli.add_command(
            LazyCommand(name, module, attribute, help_text, before_run=_quiet_audit)
        )


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
