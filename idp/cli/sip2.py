"""``idp sip2``: run the SIP2 responder, hash terminal passwords."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

import click
from argon2 import PasswordHasher
from flask import current_app
from flask.cli import with_appcontext

from idp.sip2.service import create_server
from idp.sip2.terminals import TerminalConfigError

#: Passwords of the sample terminals file's terminals for ``idp sip2 serve --demo``.
DEMO_TERMINAL_SECRETS = {
    "SIP2_DLIBRARY_PASSWORD": "d-library-sip2-demo-not-for-production",
    "SIP2_SELFCHECK_PASSWORD": "selfcheck-sip2-demo-not-for-production",
}
#: One line per event: time, level, logger, then the message (``key=value`` where it can).
LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"

log = logging.getLogger("idp.sip2")


@click.group("sip2")
def sip2() -> None:
    """SIP2 responder for e-book vendors, self-check machines and proxies."""


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in ("idp.sip2", "idp.audit", "idp.services"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


@sip2.command("serve")
@click.option("--host", default=None, help="Address to listen on [IDP_SIP2_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="[IDP_SIP2_PORT]")
@click.option("--tls-cert", default=None, help="PEM certificate chain [IDP_SIP2_TLS_CERT].")
@click.option("--tls-key", default=None, help="PEM private key [IDP_SIP2_TLS_KEY].")
@click.option(
    "--demo", is_flag=True, help="Use demo terminal passwords for unset variables (never prod)."
)
@with_appcontext
def serve_command(
    host: str | None, port: int | None, tls_cert: str | None, tls_key: str | None, demo: bool
) -> None:
    """Answer SIP2 Login, SC Status, Patron Status/Information and End Session.

    Runs until SIGTERM or SIGINT, then closes open connections and exits.
    """
    _configure_logging()
    env = dict(os.environ)
    if demo:
        env = {**DEMO_TERMINAL_SECRETS, **env}
        log.warning("sip2: demo terminal passwords in use for unset variables: never production")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        server = create_server(
            app, env=env, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key
        )
    except TerminalConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        log.info("sip2: signal=%s shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    bound_host, bound_port = server.address
    log.info(
        "sip2: listening host=%s port=%d tls=%s terminals=%d max_connections=%d",
        bound_host,
        bound_port,
        "yes" if server.is_tls else "no",
        len(server.terminals),
        server.options.max_connections,
    )
    server.start(poll_interval=0.2)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("sip2: stopped")


@sip2.command("hash-password")
def hash_password_command() -> None:
    """Print the Argon2 hash of a terminal password, for ``password_hash``."""
    password = click.prompt("Terminal password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("use at least 8 characters")
    click.echo(PasswordHasher().hash(password))
