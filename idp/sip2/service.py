"""Build the SIP2 responder of an application: options, terminals, TLS and directory."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from idp.sip2.database_directory import DatabaseDirectory
from idp.sip2.server import Sip2Server
from idp.sip2.session import Sip2Options
from idp.sip2.terminals import TerminalConfigError
from idp.sip2.terminals import allowances
from idp.sip2.terminals import credentials
from idp.sip2.terminals import load_terminals


def options_from_config(config: Mapping[str, Any]) -> Sip2Options:
    """The server options from the ``IDP_SIP2_*`` settings.

    :raises TerminalConfigError: for a value the server cannot use.
    """
    try:
        return Sip2Options(
            institution_id=str(config["IDP_SIP2_INSTITUTION_ID"]),
            library_name=str(config["IDP_LIBRARY_NAME"]),
            max_connections=int(config["IDP_SIP2_MAX_CONNECTIONS"]),
            max_connections_per_address=int(config["IDP_SIP2_MAX_CONNECTIONS_PER_ADDRESS"]),
            idle_timeout=float(config["IDP_SIP2_IDLE_TIMEOUT"]),
            login_timeout=float(config["IDP_SIP2_LOGIN_TIMEOUT"]),
            max_message_bytes=int(config["IDP_SIP2_MAX_MESSAGE"]),
            encoding=str(config["IDP_SIP2_ENCODING"]),
            time_zone=ZoneInfo(str(config["IDP_TIMEZONE"])),
            expiry_field=str(config["IDP_SIP2_EXPIRY_FIELD"]) or None,
        )
    except (ValueError, LookupError) as exc:
        raise TerminalConfigError(f"IDP_SIP2_* settings: {exc}") from None


def tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    """A server TLS context (TLS 1.2 or later) from PEM files, or None when both are unset.

    :raises TerminalConfigError: when only one is set, or the files cannot be loaded.
    """
    if not cert and not key:
        return None
    if not (cert and key):
        raise TerminalConfigError("TLS needs both a certificate and a key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        # The error names the file, never the key's content.
        raise TerminalConfigError(f"cannot load the TLS certificate or key: {exc}") from None
    return context


def create_server(
    app: Flask,
    *,
    env: Mapping[str, str],
    host: str | None = None,
    port: int | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> Sip2Server:
    """A bound (not yet serving) SIP2 responder for ``app``.

    Arguments left as None come from the application's ``IDP_SIP2_*`` settings.

    :param env: where the terminals' ``password_env`` variables are looked up.
    :raises TerminalConfigError: for an unusable terminals file, option or TLS file.
    :raises OSError: when the address cannot be bound.
    """
    config = app.config
    terminals = load_terminals(Path(str(config["IDP_SIP2_TERMINALS"])), env)
    context = tls_context(
        str(config["IDP_SIP2_TLS_CERT"] if tls_cert is None else tls_cert),
        str(config["IDP_SIP2_TLS_KEY"] if tls_key is None else tls_key),
    )
    directory = DatabaseDirectory(app, allowances(terminals))
    return Sip2Server(
        directory,
        credentials(terminals),
        host=str(config["IDP_SIP2_HOST"] if host is None else host),
        port=int(config["IDP_SIP2_PORT"] if port is None else port),
        ssl_context=context,
        options=options_from_config(config),
        login_guard=directory,
    )
