"""Passkeys for staff (W3C Web Authentication Level 2, through py_webauthn).

The relying-party id is the issuer's host name and the expected origin the issuer's
origin, so a passkey made for this installation works nowhere else. Challenges are
random (64 bytes), kept by the caller in the staff session and used once.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from webauthn import generate_authentication_options
from webauthn import generate_registration_options
from webauthn import options_to_json
from webauthn import verify_authentication_response
from webauthn import verify_registration_response
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

from idp.extensions import db
from idp.models.staff import StaffCredential
from idp.models.staff import StaffMember
from idp.services.container import services

#: Longest credential JSON accepted from the browser.
MAX_CREDENTIAL_JSON = 16 * 1024


class PasskeyError(ValueError):
    """The browser's answer to a passkey ceremony was refused (the message says why)."""


def relying_party() -> tuple[str, str]:
    """The relying-party id (host name) and the expected origin, from ``IDP_ISSUER``."""
    parts = urlsplit(str(services().config["IDP_ISSUER"]))
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def is_available() -> bool:
    """True when passkeys can work here: the issuer's host is a name, not an IP address.

    WebAuthn's relying-party id is a domain; browsers refuse ``127.0.0.1`` (use
    ``localhost`` or the real host name). Without passkeys, staff enrol a TOTP app.
    """
    host = urlsplit(str(services().config["IDP_ISSUER"])).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(host)
    return False


def registration_options(staff: StaffMember) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create()`` (JSON) and their challenge."""
    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=str(services().config["IDP_LIBRARY_NAME_EN"]),
        user_name=staff.username,
        user_id=f"staff:{staff.id}".encode(),
        user_display_name=staff.name or staff.username,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(c) for c in staff.credentials],
    )
    return options_to_json(options), options.challenge


def finish_registration(
    staff: StaffMember, credential_json: str, challenge: bytes, now: dt.datetime
) -> StaffCredential:
    """Verify the browser's new credential and keep it (added to the session, not committed).

    :raises PasskeyError: when the answer does not verify.
    """
    rp_id, origin = relying_party()
    credential = _parse(credential_json)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except WebAuthnException as exc:
        raise PasskeyError(str(exc)) from None
    transports = credential.get("response", {}).get("transports") or []
    row = StaffCredential(
        staff_id=staff.id,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[str(t) for t in transports if isinstance(t, str)][:8],
        created_at=now,
    )
    db.session.add(row)
    staff.credentials.append(row)
    return row


def authentication_options(staff: StaffMember) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.get()`` (JSON) and their challenge."""
    rp_id, _origin = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[_descriptor(c) for c in staff.credentials],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


def verify_assertion(
    staff: StaffMember, credential_json: str, challenge: bytes, now: dt.datetime
) -> StaffCredential:
    """Check a passkey sign-in of ``staff``; update the signature counter (not committed).

    :raises PasskeyError: for an unknown credential or an answer that does not verify.
    """
    rp_id, origin = relying_party()
    credential = _parse(credential_json)
    found = next((c for c in staff.credentials if c.credential_id == credential.get("id")), None)
    if found is None:
        raise PasskeyError("unknown credential")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=found.public_key,
            credential_current_sign_count=found.sign_count,
        )
    except WebAuthnException as exc:
        raise PasskeyError(str(exc)) from None
    found.sign_count = verified.new_sign_count
    found.last_used_at = now
    return found


def _parse(credential_json: str) -> dict[str, Any]:
    if not credential_json or len(credential_json) > MAX_CREDENTIAL_JSON:
        raise PasskeyError("missing or oversized credential")
    try:
        parsed = json.loads(credential_json)
    except ValueError:
        raise PasskeyError("credential is not JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("id"), str):
        raise PasskeyError("credential is not a public-key credential")
    return parsed


def _descriptor(credential: StaffCredential) -> PublicKeyCredentialDescriptor:
    from webauthn import base64url_to_bytes

    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential.credential_id))
