"""Passkeys for staff: the WebAuthn ceremonies of :mod:`idp.services.webauthn_rp` with
the :data:`~idp.services.webauthn_rp.STAFF` policy, and the staff credential rows.

A staff passkey is a second factor after the password, so it need not be discoverable
and user verification is preferred, not required. Challenges are kept by the caller in
the staff session and used once.
"""

from __future__ import annotations

import datetime as dt

from idp.extensions import db
from idp.models.staff import StaffCredential
from idp.models.staff import StaffMember
from idp.services import webauthn_rp
from idp.services.webauthn_rp import STAFF
from idp.services.webauthn_rp import PasskeyError
from idp.services.webauthn_rp import is_available

__all__ = [
    "PasskeyError",
    "authentication_options",
    "finish_registration",
    "is_available",
    "registration_options",
    "verify_assertion",
]


def registration_options(staff: StaffMember) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create()`` (JSON) and their challenge."""
    return webauthn_rp.registration_options(
        user_id=f"staff:{staff.id}".encode(),
        user_name=staff.username,
        display_name=staff.name or staff.username,
        existing=[c.credential_id for c in staff.credentials],
        policy=STAFF,
    )


def finish_registration(
    staff: StaffMember, credential_json: str, challenge: bytes, now: dt.datetime
) -> StaffCredential:
    """Verify the browser's new credential and keep it (added to the session, not committed).

    :raises PasskeyError: when the answer does not verify.
    """
    new = webauthn_rp.verify_registration(credential_json, challenge, STAFF)
    row = StaffCredential(
        staff_id=staff.id,
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        transports=new.transports,
        created_at=now,
    )
    db.session.add(row)
    staff.credentials.append(row)
    return row


def authentication_options(staff: StaffMember) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.get()`` (JSON) and their challenge."""
    return webauthn_rp.authentication_options([c.credential_id for c in staff.credentials], STAFF)


def verify_assertion(
    staff: StaffMember, credential_json: str, challenge: bytes, now: dt.datetime
) -> StaffCredential:
    """Check a passkey sign-in of ``staff``; update the signature counter (not committed).

    :raises PasskeyError: for an unknown credential or an answer that does not verify.
    """
    credential = webauthn_rp.parse_credential(credential_json)
    found = next((c for c in staff.credentials if c.credential_id == credential["id"]), None)
    if found is None:
        raise PasskeyError("unknown credential")
    assertion = webauthn_rp.verify_assertion(
        credential, challenge, found.public_key, found.sign_count, STAFF
    )
    found.sign_count = assertion.new_sign_count
    found.last_used_at = now
    return found
