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
from typing import Literal
from urllib.parse import urlsplit

from idp.services.container import container

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

# py_webauthn (with cbor2, pyasn1 and its COSE keys: ~5 MB of a worker) is
# imported by the ceremonies themselves: a worker that sees no passkey never loads it.

#: Longest credential JSON accepted from the browser.
MAX_CREDENTIAL_JSON = 16 * 1024


class PasskeyError(ValueError):
    """The browser's answer to a passkey ceremony was refused (the message says why)."""


@dataclass(frozen=True)
class Policy:
    """What the ceremonies ask of the authenticator, per kind of account."""

    #: Discoverable credential: sign-in without typing who you are first (WebAuthn's
    #: ``ResidentKeyRequirement`` values).
    resident_key: Literal["required", "preferred", "discouraged"]
    #: Whether the authenticator must check who holds it (PIN, fingerprint; WebAuthn's
    #: ``UserVerificationRequirement`` values).
    user_verification: Literal["required", "preferred", "discouraged"]

    @property
    def requires_user_verification(self) -> bool:
        """True when an answer without user verification is refused."""
        return self.user_verification == "required"


#: Patrons: a discoverable passkey with user verification (it replaces card and password).
PATRON = Policy(resident_key="required", user_verification="required")
#: Staff: a second factor after the password (user verification welcome, not required).
STAFF = Policy(resident_key="discouraged", user_verification="preferred")


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


def _refused() -> tuple[type[Exception], ...]:
    """What py_webauthn raises for an answer that does not verify (or is malformed)."""
    from webauthn.helpers.exceptions import WebAuthnException

    return (WebAuthnException, ValueError, KeyError, TypeError)


def _expected(challenge: bytes, policy: Policy) -> dict[str, Any]:
    """What both ceremonies check the browser's answer against (py_webauthn's keywords)."""
    rp_id, origin = relying_party()
    return {
        "expected_challenge": challenge,
        "expected_rp_id": rp_id,
        "expected_origin": origin,
        "require_user_verification": policy.requires_user_verification,
    }


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
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.structs import CredentialDeviceType

    expected = _expected(challenge, policy)
    credential = parse_credential(credential_json)
    try:
        verified = verify_registration_response(credential=credential, **expected)
    except _refused() as exc:
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

    expected = _expected(challenge, policy)
    try:
        verified = verify_authentication_response(
            credential=credential,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            **expected,
        )
    except _refused() as exc:
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
    from webauthn import base64url_to_bytes
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))


def challenge_text(challenge: bytes) -> str:
    """A ceremony's challenge as the caller keeps it between the two requests (base64url)."""
    from webauthn.helpers import bytes_to_base64url

    return bytes_to_base64url(challenge)


def challenge_bytes(kept: str) -> bytes:
    """Read back :func:`challenge_text`."""
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(kept)
