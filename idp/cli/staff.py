"""``idp staff``: staff accounts of the web console — add, list, disable, enable, reset."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import click
from flask.cli import with_appcontext

from idp.cli.operator import operator_options
from idp.cli.operator import resolve_actor
from idp.extensions import db
from idp.services.staff.accounts import Enrolment
from idp.services.staff.accounts import StaffError
from idp.services.staff.accounts import add_staff
from idp.services.staff.accounts import disable_staff
from idp.services.staff.accounts import enable_staff
from idp.services.staff.accounts import list_staff
from idp.services.staff.accounts import reset_staff
from idp.services.staff.actor import Actor
from idp.services.staff.roles import Role


@click.group("staff")
def staff() -> None:
    """Staff accounts of the web console (/staff)."""


def _print_enrolment(enrolment: Enrolment) -> None:
    click.echo(f"Enrolment link for {enrolment.staff.username} ({enrolment.staff.role}):")
    click.echo(f"  {enrolment.url}")
    click.echo(
        f"Usable once, until {enrolment.expires_at.isoformat(timespec='minutes')}: "
        "choose a password and enrol a passkey or an authenticator app there."
    )
    click.echo("The link is shown only now; `idp staff reset` makes a new one.")


@staff.command("add")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="counter, supervisor or admin.",
)
@click.option("--name", default=None, help="Display name.")
@click.option("--branch", default=None, help="Branch library.")
@operator_options
@with_appcontext
def add(
    username: str,
    role: str,
    name: str | None,
    branch: str | None,
    staff_username: str | None,
    reason: str | None,
) -> None:
    """Create a staff account and print its one-time enrolment link (valid 24 h)."""
    actor = resolve_actor(staff_username)
    try:
        enrolment = add_staff(username, role, actor=actor, name=name, branch=branch)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _print_enrolment(enrolment)


@staff.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def list_command(as_json: bool) -> None:
    """List staff accounts: username, role, state, second factors, name, branch."""
    for member in list_staff():
        factors = [
            f for f, on in (("passkey", member.credentials), ("totp", member.totp_secret)) if on
        ]
        state = (
            "disabled"
            if not member.is_active
            else "locked"
            if member.locked_at
            else "active"
            if member.is_enrolled
            else "enrolling"
        )
        row = {
            "username": member.username,
            "role": member.role,
            "state": state,
            "second_factors": factors,
            "name": member.name,
            "branch": member.branch,
            "last_login_at": member.last_login_at.isoformat() if member.last_login_at else None,
        }
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        click.echo(
            "\t".join(
                [
                    member.username,
                    member.role,
                    state,
                    ",".join(factors) or "-",
                    member.name or "-",
                    member.branch or "-",
                ]
            )
        )


T = TypeVar("T")


def _apply(
    action: Callable[..., T], username: str, staff_username: str | None, reason: str | None
) -> T:
    """Run one account action as the operator, commit it, and turn refusals into errors."""
    actor: Actor = resolve_actor(staff_username)
    try:
        result = action(username, actor=actor, reason=reason)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    return result


# disable, enable and reset stay three commands of the same shape on purpose: click takes
# each command's help from its docstring; the work they share is _apply's.
@staff.command("disable")
@click.argument("username")
@operator_options
@with_appcontext
def disable(username: str, staff_username: str | None, reason: str | None) -> None:
    """Disable an account: no more sign-ins; its sessions end at once."""
    member = _apply(disable_staff, username, staff_username, reason)
    click.echo(f"Staff member {member.username} is disabled.")


@staff.command("enable")
@click.argument("username")
@operator_options
@with_appcontext
def enable(username: str, staff_username: str | None, reason: str | None) -> None:
    """Enable an account again (also clears a lock after wrong passwords)."""
    member = _apply(enable_staff, username, staff_username, reason)
    click.echo(f"Staff member {member.username} is enabled.")


@staff.command("reset")
@click.argument("username")
@operator_options
@with_appcontext
def reset(username: str, staff_username: str | None, reason: str | None) -> None:
    """Forget password and second factors; print a new one-time enrolment link."""
    enrolment = _apply(reset_staff, username, staff_username, reason)
    _print_enrolment(enrolment)
