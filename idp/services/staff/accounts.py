"""Staff accounts: create, enrol, disable, enable, reset (``idp staff``, the admin screen).

A new or reset account gets a one-time enrolment link (valid ``IDP_STAFF_ENROLMENT_HOURS``)
where the staff member chooses a password and enrols a second factor; only the link's
SHA-256 is stored. Functions add to the database session; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import select

from idp.extensions import db
from idp.models.staff import StaffCredential
from idp.models.staff import StaffMember
from idp.models.staff import StaffRecoveryCode
from idp.models.staff import StaffSession
from idp.services.container import container
from idp.services.staff.actor import Actor
from idp.services.staff.roles import parse_role

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class StaffError(ValueError):
    """A request about a staff account cannot be carried out (the message says why)."""


@dataclass(frozen=True)
class Enrolment:
    """A one-time enrolment link just made (the token is shown once, never stored)."""

    staff: StaffMember
    token: str
    expires_at: dt.datetime

    @property
    def url(self) -> str:
        """The link to hand to the staff member."""
        return f"{container().settings.site.issuer}/staff/enrol/{self.token}"


def token_hash(token: str) -> str:
    """SHA-256 of an enrolment token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_username(username: str) -> str:
    """A username as stored: trimmed, lower case.

    :raises StaffError: unless 2–64 of ``a-z 0-9 . _ -``, starting with a letter or digit.
    """
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise StaffError(
            "a username is 2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    return name


def find_staff(username: str) -> StaffMember | None:
    """The staff member with this username (any case), or None."""
    name = username.strip().lower()
    if not name or len(name) > 64:
        return None
    found: StaffMember | None = db.session.scalar(
        select(StaffMember).where(StaffMember.username == name)
    )
    return found


def get_staff(username: str) -> StaffMember:
    """The staff member with this username.

    :raises StaffError: when there is none.
    """
    staff = find_staff(username)
    if staff is None:
        raise StaffError(f"no staff member is called {username!r}")
    return staff


def list_staff() -> list[StaffMember]:
    """Every staff account, by username."""
    return list(db.session.scalars(select(StaffMember).order_by(StaffMember.username)))


def _new_enrolment(staff: StaffMember) -> Enrolment:
    token = secrets.token_urlsafe(32)
    hours = container().settings.staff.enrolment_hours
    expires = container().now() + dt.timedelta(hours=hours)
    staff.enrolment_hash = token_hash(token)
    staff.enrolment_expires_at = expires
    return Enrolment(staff, token, expires)


def add_staff(
    username: str,
    role: str,
    *,
    actor: Actor,
    name: str | None = None,
    branch: str | None = None,
) -> Enrolment:
    """Create a staff account and its enrolment link; audited under ``actor``.

    :raises StaffError: for a bad or taken username, or an unknown role.
    """
    login = normalize_username(username)
    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise StaffError(str(exc)) from None
    if find_staff(login) is not None:
        raise StaffError(f"the username {login!r} is already taken")
    staff = StaffMember(
        username=login,
        role=parsed.value,
        name=(name or "").strip()[:200] or None,
        branch=(branch or "").strip()[:100] or None,
        is_active=True,
        created_at=container().now(),
        created_by=actor.name,
    )
    db.session.add(staff)
    db.session.flush()
    enrolment = _new_enrolment(staff)
    actor.audit("staff.created", staff=login, staff_role=parsed.value, branch=staff.branch)
    return enrolment


def end_staff_sessions(staff: StaffMember) -> None:
    """Delete every console session of ``staff`` (and any sign-in in progress)."""
    db.session.execute(delete(StaffSession).where(StaffSession.staff_id == staff.id))


def disable_staff(username: str, *, actor: Actor, reason: str | None = None) -> StaffMember:
    """Disable an account: no sign-in, every session ends at once."""
    staff = get_staff(username)
    staff.is_active = False
    end_staff_sessions(staff)
    actor.audit("staff.disabled", staff=staff.username, reason=reason)
    return staff


def enable_staff(username: str, *, actor: Actor, reason: str | None = None) -> StaffMember:
    """Enable an account again; also clears a lock after too many wrong passwords."""
    # Imported here: the sign-in module looks accounts up through this one.
    from idp.services.staff.auth import clear_staff_failures

    staff = get_staff(username)
    staff.is_active = True
    staff.locked_at = None
    clear_staff_failures(staff.username)
    actor.audit("staff.enabled", staff=staff.username, reason=reason)
    return staff


def reset_staff(username: str, *, actor: Actor, reason: str | None = None) -> Enrolment:
    """Forget the password, second factors and recovery codes; a new enrolment link.

    Every session ends; the staff member enrols again through the new link.
    """
    from idp.services.staff.auth import clear_staff_failures

    staff = get_staff(username)
    staff.password_hash = None
    staff.totp_secret = None
    staff.totp_last_step = None
    staff.locked_at = None
    db.session.execute(delete(StaffCredential).where(StaffCredential.staff_id == staff.id))
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff.id))
    db.session.expire(staff, ["credentials"])
    end_staff_sessions(staff)
    clear_staff_failures(staff.username)
    enrolment = _new_enrolment(staff)
    actor.audit("staff.reset", staff=staff.username, reason=reason)
    return enrolment


def staff_for_enrolment(token: str) -> StaffMember | None:
    """The account a live enrolment link belongs to, or None (unknown, used, expired)."""
    if not token or len(token) > 128:
        return None
    staff: StaffMember | None = db.session.scalar(
        select(StaffMember).where(StaffMember.enrolment_hash == token_hash(token))
    )
    if staff is None or not staff.is_active:
        return None
    expires = staff.enrolment_expires_at
    if expires is None or container().now() >= expires:
        return None
    return staff


def set_password(staff: StaffMember, password: str) -> None:
    """Store the Argon2id hash of the staff member's chosen password (rules checked before)."""
    staff.password_hash = container().passwords.hash(password)


def finish_enrolment(staff: StaffMember) -> None:
    """Use the enrolment link up once a password and a second factor are set."""
    staff.enrolment_hash = None
    staff.enrolment_expires_at = None
