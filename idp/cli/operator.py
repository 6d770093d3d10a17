"""Who runs an ``idp`` command, for the audit log: ``--staff USERNAME`` or the OS user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import TypeVar

import click

from idp.services.staff.actor import Actor
from idp.services.staff.actor import cli_actor

_F = TypeVar("_F", bound=Callable[..., Any])


def staff_option(command: _F) -> _F:
    """Add ``--staff USERNAME`` (or ``IDP_STAFF_USER``): who the audit log names."""
    return click.option(
        "--staff",
        "staff_username",
        default=None,
        envvar="IDP_STAFF_USER",
        help="Staff username recorded as the operator (default: the OS user).",
    )(command)


def operator_options(command: _F) -> _F:
    """Add ``--staff USERNAME`` and ``--reason TEXT`` to a command that changes something."""
    command = click.option(
        "--reason", default=None, help="Why (recorded in the audit log with the operator)."
    )(command)
    return staff_option(command)


def resolve_actor(staff_username: str | None) -> Actor:
    """The actor for the audit log.

    :raises click.ClickException: when ``--staff`` names no active staff account.
    """
    if not staff_username:
        return cli_actor()
    from idp.services.staff.accounts import find_staff

    staff = find_staff(staff_username)
    if staff is None or not staff.is_active:
        raise click.ClickException(f"no active staff member is called {staff_username!r}")
    return cli_actor(staff.username, staff.role)
