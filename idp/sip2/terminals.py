"""SIP2 terminals: their settings and credentials, and the terminals file.

A TOML file (``IDP_SIP2_TERMINALS``, sample ``terminals/sip2.toml``) with one
``[[terminal]]`` table per SIP2 login user (the CN of Login 93). The password is never in
the file in clear: either ``password_env`` names an environment variable holding it, or
``password_hash`` holds its Argon2 hash (``idp sip2 hash-password``).
"""

from __future__ import annotations

import hmac
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Literal
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

from idp.services.allowance import ALLOWANCE_KEYS
from idp.services.allowance import Allowance
from idp.services.allowance import AllowanceError
from idp.services.allowance import parse_allowance
from idp.services.networks import Network
from idp.services.networks import address_in
from idp.sip2.messages import LANGUAGE_CODES

Language = Literal["ja", "en"]


@dataclass(frozen=True)
class TerminalSettings:
    """What one terminal (SIP2 login user) gets."""

    #: Language of the AF screen message and the response ``language`` field.
    language: Language = "ja"
    #: Send the patron's name in AE (otherwise AE is sent empty, as it is a required field).
    is_name_released: bool = False
    #: Send the patron's e-mail address in BE (Patron Information only).
    is_email_released: bool = False
    #: Require Login (93) before patron requests. When False the terminal may instead send
    #: its password in each request's AC field.
    is_login_required: bool = True
    #: AO sent in responses when the request carries none (overrides the server's default).
    institution_id: str = ""
    #: Networks the terminal may connect from; empty: any.
    allowed_networks: tuple[Network, ...] = ()
    #: The terminal's own source limits (``checks_per_minute``, ``failures_per_day``),
    #: counted against ``terminal:<login>`` instead of its address; None: per address.
    allowance: Allowance | None = None

    def __post_init__(self) -> None:
        if self.language not in LANGUAGE_CODES:
            raise ValueError(f"unsupported terminal language {self.language!r}")

    def is_allowed_from(self, source_ip: str) -> bool:
        """True when a connection from ``source_ip`` may act as this terminal."""
        return not self.allowed_networks or address_in(source_ip, self.allowed_networks)


@dataclass(frozen=True)
class Terminal:
    """A logged-in terminal: its login user and settings."""

    name: str
    settings: TerminalSettings


@dataclass(frozen=True)
class HashedPassword:
    """A terminal password kept only as an Argon2 hash (``idp sip2 hash-password``)."""

    hash: str

    def __post_init__(self) -> None:
        if not self.hash.startswith("$argon2"):
            raise ValueError("a terminal password hash must be an Argon2 hash")

    def matches(self, password: str) -> bool:
        """Verify ``password`` (Argon2 compares in constant time)."""
        try:
            return PasswordHasher().verify(self.hash, password)
        except (VerificationError, InvalidHashError):
            return False


#: A terminal password: in clear (from the environment) or as an Argon2 hash.
TerminalPassword = str | HashedPassword


class TerminalRegistry:
    """Terminal credentials, compared in constant time."""

    _DUMMY = b"\x00" * 32

    def __init__(
        self, credentials: Mapping[str, tuple[TerminalPassword, TerminalSettings]]
    ) -> None:
        """:param credentials: terminal user → (password or its hash, settings).

        :raises ValueError: for an empty user or password, a terminal without login whose
            password is hashed, or two terminals without login sharing a password (AC could
            not tell them apart).
        """
        self._entries: dict[str, tuple[bytes | HashedPassword, TerminalSettings]] = {}
        for user, (password, settings) in credentials.items():
            if not user or not password:
                raise ValueError("terminal users and passwords must not be empty")
            if isinstance(password, HashedPassword):
                if not settings.is_login_required:
                    raise ValueError("terminals without login need a password, not a hash")
                self._entries[user] = (password, settings)
            else:
                self._entries[user] = (password.encode("utf-8"), settings)
        without_login = [pw for pw, s in self._entries.values() if not s.is_login_required]
        if len(set(without_login)) != len(without_login):
            raise ValueError("terminals without login need distinct passwords")

    def __len__(self) -> int:
        return len(self._entries)

    def accepts_connection_from(self, source_ip: str) -> bool:
        """True when some terminal may connect from ``source_ip`` (checked at accept time)."""
        return any(settings.is_allowed_from(source_ip) for _, settings in self._entries.values())

    def login(self, user: str, password: str) -> Terminal | None:
        """The terminal for a Login (93) user and password, or None."""
        entry = self._entries.get(user)
        expected = entry[0] if entry else self._DUMMY
        if isinstance(expected, HashedPassword):
            matches = expected.matches(password)
        else:
            matches = hmac.compare_digest(password.encode("utf-8"), expected)
        return Terminal(user, entry[1]) if entry is not None and matches else None

    def by_terminal_password(self, password: str) -> Terminal | None:
        """The terminal without login whose password is this AC value, or None."""
        found = None
        given = password.encode("utf-8")
        for user, (expected, settings) in self._entries.items():
            if isinstance(expected, HashedPassword):
                continue  # only terminals with a login have hashed passwords
            # Compare with every candidate, so timing does not tell which one matched.
            if hmac.compare_digest(given, expected) and not settings.is_login_required:
                found = Terminal(user, settings)
        return found


class TerminalLoginGuard(Protocol):
    """Throttling and audit of terminal logins, shared with the other ways in."""

    def check_login(self, user: str, source_ip: str) -> bool:
        """False when ``source_ip`` must not try a terminal login now (refused unchecked)."""
        ...

    def record_login(self, user: str, source_ip: str, *, is_ok: bool, reason: str) -> None:
        """Count and audit one terminal login (``reason``: ``ok``, ``invalid``, …)."""
        ...


# --- the terminals file ------------------------------------------------------------------

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
        *ALLOWANCE_KEYS,
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


def _networks(table: Mapping[str, Any], where: str) -> tuple[Network, ...]:
    raw = table.get("networks", [])
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise TerminalConfigError(f"{where}: networks must be a list of strings")
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in raw)
    except ValueError as exc:
        raise TerminalConfigError(f"{where}: {exc}") from None


def _allowance(table: Mapping[str, Any], login: str, where: str) -> Allowance | None:
    try:
        return parse_allowance(table, f"terminal:{login}")
    except AllowanceError as exc:
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
        allowance=_allowance(table, login, where),
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


def allowances(entries: list[TerminalEntry]) -> dict[str, Allowance]:
    """The allowance of every terminal that has one, by login."""
    return {e.login: e.settings.allowance for e in entries if e.settings.allowance is not None}


def credentials(
    entries: list[TerminalEntry],
) -> dict[str, tuple[TerminalPassword, TerminalSettings]]:
    """The :class:`~idp.sip2.server.Sip2Server` ``terminals`` mapping for the entries."""
    return {entry.login: (entry.password, entry.settings) for entry in entries}
