"""The WebAuthn relying party (W3C Web Authentication Level 2, through py_webauthn).

One small module for every kind of account that has passkeys: it knows nothing of
patrons or staff. Callers keep the challenge (in the session, used once) and the stored
credential (id, public key, signature counter).

The relying-party id is the issuer's host name and the expected origin the issuer's
origin, so a passkey made for this installation works nowhere else. WebAuthn needs a
secure context and a host *name*: ``https://…``, or ``http://localhost`` for
development; an issuer on an IP address (``127.0.0.1``) has no passkeys.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from idp.services.container import container

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

# py_webauthn (~20 MB of modules with its CBOR and ASN.1 parsers) is imported inside
# the ceremonies, not when the application starts: a worker that runs no passkey
# ceremony never loads it. The policies name its requirements by their values.

#: Longest credential JSON accepted from the browser.
MAX_CREDENTIAL_JSON = 16 * 1024


class PasskeyError(ValueError):
    """The browser's answer to a passkey ceremony was refused (the message says why)."""


@dataclass(frozen=True)
class Policy:
    """What the ceremonies ask of the authenticator, per kind of account."""

    #: Discoverable credential: sign-in without typing who you are first
    #: (``ResidentKeyRequirement``'s value).
    resident_key: str
    #: Whether the authenticator must check who holds it (PIN, fingerprint;
    #: ``UserVerificationRequirement``'s value).
    user_verification: str

    @property
    def requires_user_verification(self) -> bool:
        """True when an answer without user verification is refused."""
        return self.user_verification == "required"


#: Patrons: a discoverable passkey with user verification (it replaces card and password).
PATRON = Policy(resident_key="required", user_verification="required")
#: Staff: a second factor after the password (user verification welcome, not required).
STAFF = Policy(resident_key="discouraged", user_verification="preferred")


def bytes_to_base64url(value: bytes) -> str:
    """py_webauthn's base64url encoding (of challenges and credential ids)."""
    from webauthn.helpers import bytes_to_base64url as encode

    return str(encode(value))


def base64url_to_bytes(value: str) -> bytes:
    """py_webauthn's base64url decoding (of challenges and credential ids)."""
    from webauthn import base64url_to_bytes as decode

    return bytes(decode(value))


@dataclass(frozen=True)
class NewCredential:
    """A verified new credential, to be stored by the caller."""

    credential_id: str  # base64url
    public_key: bytes
    sign_count: int
    transports: list[str]
    #: True for a passkey that syncs between devices (RFC 8176 ``swk``), False for one
    #: bound to its authenticator (``hwk``).
    is_synced: bool


@dataclass(frozen=True)
class Assertion:
    """A verified sign-in: the counter to store and whether the user was verified."""

    new_sign_count: int
    is_user_verified: bool


def relying_party() -> tuple[str, str]:
    """The relying-party id (host name) and the expected origin, from ``IDP_ISSUER``."""
    parts = urlsplit(container().settings.site.issuer)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def is_available() -> bool:
    """True when passkeys can work here: the issuer's host is a name, not an IP address."""
    host = urlsplit(container().settings.site.issuer).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(host)
    return False


def registration_options(
    *,
    user_id: bytes,
    user_name: str,
    display_name: str,
    existing: list[str],
    policy: Policy = PATRON,
) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create()`` (JSON) and their challenge.

    With the :data:`PATRON` policy a discoverable credential with user verification: the
    patron signs in without typing the card number, and the authenticator checks who
    holds it.
    """
    from webauthn import generate_registration_options
    from webauthn import options_to_json
    from webauthn.helpers.structs import AuthenticatorSelectionCriteria
    from webauthn.helpers.structs import ResidentKeyRequirement
    from webauthn.helpers.structs import UserVerificationRequirement

    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=container().settings.library.name_en,
        user_name=user_name,
        user_id=user_id,
        user_display_name=display_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement(policy.resident_key),
            user_verification=UserVerificationRequirement(policy.user_verification),
        ),
        exclude_credentials=[_descriptor(c) for c in existing],
    )
    return options_to_json(options), options.challenge


def verify_registration(
    credential_json: str, challenge: bytes, policy: Policy = PATRON
) -> NewCredential:
    """Verify the browser's new credential.

    :raises PasskeyError: when the answer does not verify.
    """
    from webauthn import verify_registration_response
    from webauthn.helpers.exceptions import WebAuthnException
    from webauthn.helpers.structs import CredentialDeviceType

    rp_id, origin = relying_party()
    credential = parse_credential(credential_json)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=policy.requires_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(str(exc)) from None
    transports = credential.get("response", {}).get("transports") or []
    return NewCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[str(t) for t in transports if isinstance(t, str)][:8],
        is_synced=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
    )


def authentication_options(
    allowed: list[str] | None = None, policy: Policy = PATRON
) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.get()`` (JSON) and their challenge.

    :param allowed: credential ids the account has; None for discoverable credentials
        (the browser offers every passkey it holds for this site).
    """
    from webauthn import generate_authentication_options
    from webauthn import options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    rp_id, _origin = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[_descriptor(c) for c in allowed or []],
        user_verification=UserVerificationRequirement(policy.user_verification),
    )
    return options_to_json(options), options.challenge


def verify_assertion(
    credential: dict[str, Any],
    challenge: bytes,
    public_key: bytes,
    sign_count: int,
    policy: Policy = PATRON,
) -> Assertion:
    """Check a passkey sign-in against the stored public key and counter.

    :raises PasskeyError: when the answer does not verify.
    """
    from webauthn import verify_authentication_response
    from webauthn.helpers.exceptions import WebAuthnException

    rp_id, origin = relying_party()
    try:
        # Mirrors the registration call above on purpose: py_webauthn takes the same
        # relying-party facts for both ceremonies, with different results to check.
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=policy.requires_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(str(exc)) from None
    return Assertion(verified.new_sign_count, bool(verified.user_verified))


def parse_credential(credential_json: str) -> dict[str, Any]:
    """The browser's credential as a dict with a string ``id``.

    :raises PasskeyError: for anything else.
    """
    if not credential_json or len(credential_json) > MAX_CREDENTIAL_JSON:
        raise PasskeyError("missing or oversized credential")
    try:
        parsed = json.loads(credential_json)
    except ValueError:
        raise PasskeyError("credential is not JSON") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("id"), str):
        raise PasskeyError("credential is not a public-key credential")
    if len(parsed["id"]) > 1024:
        raise PasskeyError("credential id too long")
    return parsed


def _descriptor(credential_id: str) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))
