"""The SIP2 terminals file: who may log in to the responder, and what each terminal gets.

A TOML file (``IDP_SIP2_TERMINALS``, sample ``terminals/sip2.toml``) with one
``[[terminal]]`` table per SIP2 login user (the CN of Login 93). The password is never in
the file in clear: either ``password_env`` names an environment variable holding it, or
``password_hash`` holds its Argon2 hash (``idp sip2 hash-password``).
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.sip2.messages import LANGUAGE_CODES
from idp.sip2.session import HashedPassword
from idp.sip2.session import TerminalPassword
from idp.sip2.session import TerminalSettings

#: The keys a ``[[terminal]]`` table may have.
TERMINAL_KEYS = frozenset(
    {
        "login",
        "password_env",
        "password_hash",
        "institution_id",
        "language",
        "allow_name",
        "allow_email",
        "login_required",
        "networks",
        "description",
    }
)


class TerminalConfigError(ValueError):
    """The terminals file cannot be used; the message says which terminal and why."""


@dataclass(frozen=True)
class TerminalEntry:
    """One terminal of the file, its password resolved."""

    login: str
    password: TerminalPassword
    settings: TerminalSettings
    description: str = ""


def _flag(table: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise TerminalConfigError(f"{where}: {key} must be true or false")
    return value


def _text(table: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise TerminalConfigError(f"{where}: {key} must be a string")
    return value


def _password(table: Mapping[str, Any], env: Mapping[str, str], where: str) -> TerminalPassword:
    variable = _text(table, "password_env", where)
    hashed = _text(table, "password_hash", where)
    if bool(variable) == bool(hashed):
        raise TerminalConfigError(f"{where}: set exactly one of password_env and password_hash")
    if hashed:
        try:
            return HashedPassword(hashed)
        except ValueError as exc:
            raise TerminalConfigError(f"{where}: {exc}") from None
    value = env.get(variable, "")
    if not value:
        # The variable's name only: its value is a secret.
        raise TerminalConfigError(f"{where}: environment variable {variable} is not set")
    if len(value) < 8:
        raise TerminalConfigError(f"{where}: the password in {variable} is shorter than 8")
    return value


def _networks(
    table: Mapping[str, Any], where: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    raw = table.get("networks", [])
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise TerminalConfigError(f"{where}: networks must be a list of strings")
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in raw)
    except ValueError as exc:
        raise TerminalConfigError(f"{where}: {exc}") from None


def parse_terminal(table: Mapping[str, Any], env: Mapping[str, str], index: int) -> TerminalEntry:
    """Validate one ``[[terminal]]`` table.

    :param env: where ``password_env`` variables are looked up (usually ``os.environ``).
    :raises TerminalConfigError: with the terminal and the reason.
    """
    login = table.get("login")
    where = f"terminal {login!r}" if isinstance(login, str) and login else f"terminal #{index}"
    if not isinstance(login, str) or not login or "|" in login or not login.isprintable():
        raise TerminalConfigError(f"{where}: login must be a non-empty printable string")
    if "password" in table:
        raise TerminalConfigError(
            f"{where}: no password in clear in the file; use password_env or password_hash"
        )
    unknown = set(table).difference(TERMINAL_KEYS)
    if unknown:
        raise TerminalConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    language = _text(table, "language", where, "ja")
    if language not in LANGUAGE_CODES:
        choices = ", ".join(sorted(LANGUAGE_CODES))
        raise TerminalConfigError(f"{where}: language must be one of {choices}")
    settings = TerminalSettings(
        language="en" if language == "en" else "ja",
        is_name_released=_flag(table, "allow_name", False, where),
        is_email_released=_flag(table, "allow_email", False, where),
        is_login_required=_flag(table, "login_required", True, where),
        institution_id=_text(table, "institution_id", where),
        allowed_networks=_networks(table, where),
    )
    password = _password(table, env, where)
    if isinstance(password, HashedPassword) and not settings.is_login_required:
        raise TerminalConfigError(f"{where}: a terminal without login needs password_env")
    return TerminalEntry(login, password, settings, _text(table, "description", where))


def parse_terminals(data: Mapping[str, Any], env: Mapping[str, str]) -> list[TerminalEntry]:
    """Validate a parsed terminals file.

    :raises TerminalConfigError: for any invalid terminal, a repeated login, or none at all.
    """
    unknown = set(data).difference({"terminal"})
    if unknown:
        raise TerminalConfigError(f"unknown top-level key(s) {', '.join(sorted(unknown))}")
    tables = data.get("terminal", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise TerminalConfigError("terminals are [[terminal]] tables")
    entries = [parse_terminal(table, env, i) for i, table in enumerate(tables, 1)]
    if not entries:
        raise TerminalConfigError("no terminal is configured")
    logins = [entry.login for entry in entries]
    repeated = sorted({login for login in logins if logins.count(login) > 1})
    if repeated:
        raise TerminalConfigError(f"terminal login(s) configured twice: {', '.join(repeated)}")
    without_login = [e.password for e in entries if not e.settings.is_login_required]
    if len(set(without_login)) != len(without_login):
        raise TerminalConfigError("terminals without login need distinct passwords")
    return entries


def load_terminals(path: Path, env: Mapping[str, str]) -> list[TerminalEntry]:
    """Read and validate the terminals file.

    :raises TerminalConfigError: when it cannot be read or is invalid.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TerminalConfigError(f"terminals file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TerminalConfigError(f"terminals file {path}: {exc}") from None
    return parse_terminals(data, env)


def credentials(
    entries: list[TerminalEntry],
) -> dict[str, tuple[TerminalPassword, TerminalSettings]]:
    """The :class:`~idp.sip2.server.Sip2Server` ``terminals`` mapping for the entries."""
    return {entry.login: (entry.password, entry.settings) for entry in entries}
