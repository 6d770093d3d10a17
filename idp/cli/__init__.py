"""The staff and operator commands of ``idp``, attached to the app's CLI.

The ``idp`` program itself (its group and ``idp serve``) is :mod:`idp.command`: it builds the
application and starts the servers, which the commands here do not need to know about.
"""

from __future__ import annotations

from flask import Flask

from idp.lazy_command import LazyCommand

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
