"""Sign-in with a passkey: the card's rules as for a password, counted and audited here.

:func:`check_passkey` is the passkey's :func:`~idp.services.signin.check_patron`: the
same per-source counters (and one per credential, as a card has), the same refusals by
:func:`~idp.services.signin.refusal_reason` (temporary or expired password, expired card,
any status but active), the same audit lines with channel ``passkey``. A locked card
(too many wrong passwords) does not block its passkeys: a passkey cannot be guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from idp.extensions import db
from idp.models.passkey import PatronPasskey
from idp.models.patron import Patron
from idp.services.container import container
from idp.services.signin.core import Source
from idp.services.signin.core import check_secret
from idp.services.signin.core import record_outcome
from idp.services.signin.core import refusal
from idp.services.signin.outcomes import SignInOutcome
from idp.services.signin.outcomes import refusal_reason
from idp.services.webauthn_rp import Assertion
from idp.services.webauthn_rp import PasskeyError
from idp.services.webauthn_rp import parse_credential
from idp.services.webauthn_rp import verify_assertion

#: The audit channel of passkey sign-ins.
CHANNEL = "passkey"


@dataclass(frozen=True)
class PasskeyResult:
    """The outcome of a passkey sign-in."""

    outcome: SignInOutcome
    patron: Patron | None = None
    passkey: PatronPasskey | None = None
    retry_after: int = 0

    @property
    def amr(self) -> str | None:
        """``hwk`` or ``swk`` for a verified passkey."""
        return self.passkey.amr if self.passkey is not None else None


def check_passkey(
    credential_json: str, challenge: bytes | None, *, source: Source
) -> PasskeyResult:
    """Verify a passkey assertion against the challenge this browser was given.

    The caller takes ``challenge`` out of the session (used once). THROTTLED, or
    INVALID_CREDENTIALS for an unknown passkey or an answer that does not verify, or the
    card's refusal, or OK. A refusal before verification is recorded in a transaction of
    its own (:func:`~idp.services.signin.core.refusal`); the rest is the face's to commit.
    """
    # Over 60 lines, deliberately: one sequence (find, throttle, verify, decide), whose
    # ``verify``, ``refuse`` and ``finish`` close over the passkey found first.
    try:
        credential = parse_credential(credential_json)
    except PasskeyError:
        credential = None
    passkey = (
        db.session.scalar(
            select(PatronPasskey).where(PatronPasskey.credential_id == credential["id"])
        )
        if credential is not None
        else None
    )
    verified: list[Assertion] = []

    def verify() -> bool:
        if passkey is None or credential is None or challenge is None:
            return False
        try:
            verified.append(
                verify_assertion(credential, challenge, passkey.public_key, passkey.sign_count)
            )
        except PasskeyError:
            return False
        return True

    patron_id = passkey.patron_id if passkey is not None else None
    check = check_secret(
        "passkey", passkey.credential_id if passkey else None, verify, source=source
    )

    def refuse(outcome: SignInOutcome, **detail: Any) -> PasskeyResult:
        # Refused unverified: recorded in a transaction of its own, like a wrong password.
        with refusal() as session:
            record_outcome(
                outcome,
                channel=CHANNEL,
                source=source,
                patron_id=patron_id,
                session=session,
                **detail,
            )
        return PasskeyResult(outcome, retry_after=check.retry_after)

    def finish(outcome: SignInOutcome, **detail: Any) -> PasskeyResult:
        # Verified: the face commits this with the passkey's new counter.
        record_outcome(outcome, channel=CHANNEL, source=source, patron_id=patron_id, **detail)
        ok = outcome is SignInOutcome.OK
        return PasskeyResult(outcome, patron if ok else None, passkey if ok else None)

    if check.is_right is None:
        return refuse(SignInOutcome.THROTTLED, retry_after=check.retry_after)
    if not check.is_right or passkey is None:
        return refuse(SignInOutcome.INVALID_CREDENTIALS)
    now = container().now()
    passkey.sign_count = verified[0].new_sign_count
    passkey.last_used_at = now
    patron = db.session.get(Patron, passkey.patron_id)
    if patron is None:
        return finish(SignInOutcome.INVALID_CREDENTIALS)
    reason = refusal_reason(patron, now)
    if reason is None:
        patron.last_login_at = now
    return finish(reason or SignInOutcome.OK, passkey_id=passkey.id)
