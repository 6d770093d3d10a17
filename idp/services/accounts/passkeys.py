"""A patron's passkeys: add (after a fresh password sign-in), list, remove, tell by mail.

The ceremonies are :mod:`idp.services.webauthn_rp`'s; sign-in is the sign-in core's
(:func:`idp.services.signin.passkey.check_passkey`). A passkey is added only for a
patron who may sign in (the account pages are closed to a temporary or expired password,
an expired card or an inactive status) and within ``IDP_PASSKEY_FRESH_LOGIN`` seconds of
a sign-in with the password (not with another passkey).
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy import select

from idp.extensions import db
from idp.models.passkey import PatronPasskey
from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts.self_service import external_url
from idp.services.accounts.self_service import mailer
from idp.services.accounts.self_service import patron_message
from idp.services.container import container
from idp.services.mail import MailError
from idp.services.staff.actor import Actor
from idp.services.webauthn_rp import registration_options
from idp.services.webauthn_rp import verify_registration

log = logging.getLogger(__name__)

#: Most passkeys one patron may have.
MAX_PASSKEYS = 10
MAX_NAME = 64


def passkeys_of(patron_id: int) -> list[PatronPasskey]:
    """A patron's passkeys, oldest first."""
    return list(
        db.session.scalars(
            select(PatronPasskey)
            .where(PatronPasskey.patron_id == patron_id)
            .order_by(PatronPasskey.id)
        )
    )


def is_fresh_password_login(auth_time: int | None, amr: str | None) -> bool:
    """True within ``IDP_PASSKEY_FRESH_LOGIN`` seconds of a sign-in with the password."""
    if auth_time is None or amr is not None:
        return False
    age = container().now().timestamp() - auth_time
    return 0 <= age <= container().settings.accounts.passkey_fresh_login


def start_registration(patron: Patron) -> tuple[str, bytes]:
    """Creation options (JSON) and their challenge, for the patron's next passkey."""
    return registration_options(
        user_id=f"patron:{patron.id}".encode(),
        user_name=patron.card_number,
        display_name=patron.name or patron.card_number,
        existing=[p.credential_id for p in passkeys_of(patron.id)],
    )


def add_passkey(
    patron: Patron,
    name: str,
    credential_json: str,
    challenge: bytes,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> PatronPasskey:
    """Verify and keep a new passkey and audit it, in the caller's unit of work; the
    caller commits, then sends :func:`tell_passkey_added` (no mail for work rolled back).

    :raises idp.services.webauthn_rp.PasskeyError: when the browser's answer fails.
    :raises ValueError: when the patron has :data:`MAX_PASSKEYS` already.
    """
    if len(passkeys_of(patron.id)) >= MAX_PASSKEYS:
        raise ValueError("too many passkeys")
    new = verify_registration(credential_json, challenge)
    now = container().now()
    row = PatronPasskey(
        patron_id=patron.id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        transports=new.transports,
        is_synced=new.is_synced,
        name=name.strip()[:MAX_NAME] or "passkey",
        created_at=now,
    )
    db.session.add(row)
    audit.record("passkey.added", patron_id=patron.id, ip=ip, user_agent=user_agent)
    return row


def tell_passkey_added(patron: Patron, name: str, added_at: dt.datetime) -> None:
    """Tell the patron's addresses by mail that the passkey ``name`` was added (after
    the commit; ``added_at`` as kept, time zone aware)."""
    zone = ZoneInfo(container().settings.site.timezone)
    for address in (patron.email, patron.email2):
        if not address:
            continue
        message = patron_message(
            patron,
            address,
            _l("A passkey was added to your library card"),
            "mail/passkey_added.txt",
            name=name,
            when=added_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            link=external_url("passkeys.index"),
        )
        try:
            mailer().send(message)
        except MailError as exc:
            log.warning("passkey notice for patron %s not sent: %s", patron.id, exc)


def remove_passkey(
    patron_id: int, passkey_id: int, *, ip: str | None = None, user_agent: str | None = None
) -> bool:
    """Remove one of the patron's passkeys; False if it is not theirs (or gone)."""
    removed = db.session.execute(
        delete(PatronPasskey).where(
            PatronPasskey.id == passkey_id, PatronPasskey.patron_id == patron_id
        )
    ).rowcount  # type: ignore[attr-defined]
    if removed != 1:
        return False
    audit.record("passkey.removed", patron_id=patron_id, ip=ip, user_agent=user_agent)
    return True


def remove_all_passkeys(patron_id: int, *, actor: Actor) -> int:
    """Remove every passkey of a patron (staff, e.g. with a lost phone); the count removed."""
    removed = int(
        db.session.execute(
            delete(PatronPasskey).where(PatronPasskey.patron_id == patron_id)
        ).rowcount  # type: ignore[attr-defined]
        or 0
    )
    if removed:
        actor.audit("passkey.removed", patron_id=patron_id, count=removed)
    return removed
