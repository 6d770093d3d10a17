"""Who did a staff action, for the audit log (SPEC §6: every staff action under a name).

In the console the actor is the signed-in staff member (role, address, browser); from
the ``idp`` command it is the staff member named by ``--staff`` or else the operator's
OS user, and the row says which.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from idp.models.audit import AuditEvent
from idp.services import audit


# A plain record of optional fields; it looks like SmtpSettings (services/mail.py) only
# because both are frozen dataclasses with defaults. Nothing to share.
@dataclass(frozen=True)
class Actor:
    """A staff member or operator acting on patrons, staff accounts or clients."""

    #: Staff username, or the OS user for a command run without ``--staff``.
    name: str
    #: ``console`` (the web console) or ``cli`` (an ``idp`` command).
    channel: str
    #: The staff role, or None for an OS user without a staff account.
    role: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    #: The OS user behind a command (stated even with ``--staff``).
    os_user: str | None = None

    def audit(
        self,
        event: str,
        *,
        patron_id: int | None = None,
        reason: str | None = None,
        **detail: Any,
    ) -> AuditEvent:
        """Record ``event`` under this actor, with role, channel and the reason given."""
        extra: dict[str, Any] = {"channel": self.channel}
        if self.role is not None:
            extra["role"] = self.role
        if self.os_user is not None:
            extra["os_user"] = self.os_user
        if reason:
            extra["reason"] = reason
        return audit.record(
            event,
            patron_id=patron_id,
            ip=self.ip,
            user_agent=self.user_agent,
            actor=self.name,
            **extra,
            **detail,
        )


def os_user() -> str:
    """The operating-system user running this process ("unknown" when it cannot be told)."""
    try:
        return getpass.getuser()[:64]
    except (KeyError, OSError):
        return "unknown"


def cli_actor(staff_username: str | None = None, role: str | None = None) -> Actor:
    """The actor of an ``idp`` command: ``--staff USERNAME`` (already checked) or the OS user."""
    user = os_user()
    if staff_username:
        return Actor(name=staff_username, channel="cli", role=role, os_user=user)
    return Actor(name=user, channel="cli", os_user=user)
