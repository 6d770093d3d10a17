"""Build the SIP2 responder of an application: options, terminals, TLS and directory."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask

from idp.settings import Settings
from idp.settings import app_settings
from idp.sip2.database_directory import DatabaseDirectory
from idp.sip2.server import Sip2Server
from idp.sip2.session import Sip2Options
from idp.sip2.terminals import TerminalConfigError
from idp.sip2.terminals import allowances
from idp.sip2.terminals import credentials
from idp.sip2.terminals import load_terminals


def options_from_settings(settings: Settings) -> Sip2Options:
    """The server options from the ``IDP_SIP2_*`` settings.

    :raises TerminalConfigError: for a value the server cannot use.
    """
    try:
        return Sip2Options(
            institution_id=settings.sip2.institution_id,
            library_name=settings.library.name,
            max_connections=settings.sip2.max_connections,
            max_connections_per_address=settings.sip2.max_connections_per_address,
            idle_timeout=settings.sip2.idle_timeout,
            login_timeout=settings.sip2.login_timeout,
            max_message_bytes=settings.sip2.max_message,
            encoding=settings.sip2.encoding,
            time_zone=ZoneInfo(settings.site.timezone),
            expiry_field=settings.sip2.expiry_field or None,
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
    settings = app_settings(app)
    terminals = load_terminals(Path(settings.sip2.terminals), env)
    context = tls_context(
        settings.sip2.tls_cert if tls_cert is None else tls_cert,
        settings.sip2.tls_key if tls_key is None else tls_key,
    )
    directory = DatabaseDirectory(app, allowances(terminals))
    return Sip2Server(
        directory,
        credentials(terminals),
        host=settings.sip2.host if host is None else host,
        port=settings.sip2.port if port is None else port,
        ssl_context=context,
        options=options_from_settings(settings),
        login_guard=directory,
    )
