"""The Device Authorization Grant's patron side (RFC 8628 §3.3, §5.1, §6.1).

User codes are 8 letters from an alphabet of 20 consonants (no vowels, so no words; no
``I``/``O``/``U``/``Y``, nothing that looks like a digit), shown as ``XXXX-XXXX``: 20^8 ≈
2.6·10^10 codes, valid for ``IDP_DEVICE_CODE_TTL`` seconds. What a patron types is
NFKC-normalised, upper-cased and stripped of separators, so ``bcdf-ghjk`` and
``ＢＣＤＦ ＧＨＪＫ`` are the same code.

Guessing is limited by the sign-in core's limiter (:mod:`idp.services.signin`): entries
per address per minute (``device_ip``), wrong codes per address per hour
(``device_ip_failures``), and entries of one device's code over its lifetime
(``device_code``).
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy import update

from idp.extensions import db
from idp.models.device import APPROVED
from idp.models.device import DENIED
from idp.models.device import PENDING
from idp.models.device import DeviceAuthorization
from idp.services import audit
from idp.services.container import container
from idp.services.signin import Slot
from idp.services.signin import limiter

#: Consonants only: no vowels (no words), nothing that reads as a digit or another letter.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
_SEPARATORS = str.maketrans("", "", " -‐‑‒–—―ー_.")


def generate_user_code() -> str:
    """A new user code, normalised (8 letters, no separator)."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display_user_code(code: str) -> str:
    """``BCDFGHJK`` → ``BCDF-GHJK``."""
    return f"{code[:4]}-{code[4:]}"


def normalize_user_code(typed: str) -> str | None:
    """The normalised code a patron typed, or None if it cannot be a user code."""
    if not isinstance(typed, str) or len(typed) > 64:
        return None
    code = unicodedata.normalize("NFKC", typed).translate(_SEPARATORS).upper()
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


def new_user_code(now: dt.datetime) -> str:
    """A user code that no live request uses."""
    while True:
        code = generate_user_code()
        taken = db.session.scalar(
            select(DeviceAuthorization.id).where(
                DeviceAuthorization.user_code == code, DeviceAuthorization.expires_at > now
            )
        )
        if taken is None:
            return code


class Lookup(enum.Enum):
    """What entering a user code gave."""

    FOUND = "found"
    UNKNOWN = "unknown"
    THROTTLED = "throttled"


@dataclass
class LookupResult:
    """The outcome of :func:`find_pending`; ``authorization`` when FOUND."""

    outcome: Lookup
    authorization: DeviceAuthorization | None = None
    retry_after: int = 0


def find_pending(typed: str, ip: str | None) -> LookupResult:
    """The pending request a patron's user code names, counted against guessing.

    Every entry reserves a slot per address; a wrong (or expired, or decided) code keeps
    its per-address failure slot; a right one counts against that device's code.
    """
    slots = [Slot("device_ip", ip or "-"), Slot("device_ip_failures", ip or "-")]
    lim = limiter()
    reservation = lim.reserve(slots)
    if not reservation.allowed:
        audit.record("device.throttled", ip=ip)
        return LookupResult(Lookup.THROTTLED, retry_after=reservation.wait)
    now = container().now()
    code = normalize_user_code(typed)
    found = None
    if code is not None:
        found = db.session.scalar(
            select(DeviceAuthorization).where(
                DeviceAuthorization.user_code == code,
                DeviceAuthorization.status == PENDING,
                DeviceAuthorization.expires_at > now,
            )
        )
    lim.settle(reservation, succeeded=found is not None)
    if found is None:
        audit.record("device.code_unknown", ip=ip)
        return LookupResult(Lookup.UNKNOWN)
    wait = lim.hit([Slot("device_code", str(found.id))])
    if wait:
        audit.record("device.throttled", client_id=found.client_id, ip=ip)
        return LookupResult(Lookup.THROTTLED, retry_after=wait)
    return LookupResult(Lookup.FOUND, found)


def live_pending(authorization_id: int) -> DeviceAuthorization | None:
    """The request with this id while it is still pending and not expired."""
    row = db.session.get(DeviceAuthorization, authorization_id)
    if row is None or row.status != PENDING or row.is_expired_at(container().now()):
        return None
    return row


def decide(
    authorization: DeviceAuthorization,
    *,
    patron_id: int,
    approved: bool,
    auth_time: int | None,
    sid: str | None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> bool:
    """Record the patron's decision, once: False if the request was decided or expired."""
    now = container().now()
    changed = db.session.execute(
        update(DeviceAuthorization)
        .where(
            DeviceAuthorization.id == authorization.id,
            DeviceAuthorization.status == PENDING,
            DeviceAuthorization.expires_at > now,
        )
        .values(
            status=APPROVED if approved else DENIED,
            patron_id=patron_id,
            auth_time=auth_time,
            sid=sid,
            decided_at=now,
        )
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        return False
    audit.record(
        "device.approved" if approved else "device.denied",
        patron_id=patron_id,
        client_id=authorization.client_id,
        ip=ip,
        user_agent=user_agent,
    )
    return True
