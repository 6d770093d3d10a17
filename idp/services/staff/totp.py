"""TOTP second factor (RFC 6238, pyotp) and one-time recovery codes for staff.

The TOTP secret must be kept readable to check codes, so it is stored encrypted with
Fernet under a key derived (HKDF) from the application secret; a code is accepted once
(the last accepted time step is kept, RFC 6238 §5.2). Recovery codes are random and
long, so a SHA-256 hash is enough to store them; each works once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Update
from sqlalchemy import delete
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.extensions import db
from idp.models.staff import StaffMember
from idp.models.staff import StaffRecoveryCode
from idp.services.container import container

#: Steps before the current one still accepted (a code typed just as it changed).
VALID_WINDOW = 1
#: Recovery codes handed out at enrolment.
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def _fernet() -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp staff totp v1")
    key = hkdf.derive(str(container().config["SECRET_KEY"]).encode())
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    import pyotp

    return pyotp.random_base32(32)


def encrypt_secret(secret: str) -> str:
    """The secret as stored in ``staff_members.totp_secret``."""
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(stored: str) -> str | None:
    """The stored secret in clear, or None when it cannot be read (another secret key)."""
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (or types) to add the account."""
    issuer = container().settings.library.name_en
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step whose code is ``code`` (current or :data:`VALID_WINDOW` before)."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    import pyotp

    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current, current - VALID_WINDOW - 1, -1):
        candidate = totp.generate_otp(step)
        if secrets.compare_digest(candidate, code):
            return step
    return None


def verify_totp(staff: StaffMember, code: str, now: dt.datetime) -> bool:
    """Check a TOTP code and use it up: the same step is never accepted twice.

    The step is claimed with a conditional update, so two requests with one code
    cannot both pass; the claim is committed at once (:func:`_claim`).
    """
    if staff.totp_secret is None:
        return False
    secret = decrypt_secret(staff.totp_secret)
    step = matching_step(secret, code, now) if secret else None
    if step is None:
        return False
    claimed = _claim(
        update(StaffMember)
        .where(
            StaffMember.id == staff.id,
            (StaffMember.totp_last_step.is_(None)) | (StaffMember.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    if not claimed:
        return False
    set_committed_value(staff, "totp_last_step", step)
    return True


def _claim(statement: Update) -> bool:
    """Run a single-use claim (one conditional update) in a short transaction of its own.

    Committed at once, whatever the sign-in does next: every other worker sees the step
    or the code used, and the sign-in core then settles its counters on a connection of
    its own, which on SQLite (one writer) would wait for an uncommitted write of the
    face's session. True when the claim took its row.
    """
    with Session(db.engine) as session:
        claimed = session.execute(statement.execution_options(synchronize_session=False))
        session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def _hash_code(code: str) -> str:
    return hashlib.sha256(
        code.strip().lower().replace("-", "").replace(" ", "").encode()
    ).hexdigest()


def new_recovery_codes(staff: StaffMember) -> list[str]:
    """Replace ``staff``'s recovery codes with fresh ones; return them (shown once).

    Each code is 12 characters from an unambiguous alphabet (about 59 bits), written
    ``xxxx-xxxx-xxxx``. Commits nothing.
    """
    db.session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
        db.session.add(StaffRecoveryCode(staff_id=staff.id, code_hash=_hash_code(raw)))
    return codes


def use_recovery_code(staff: StaffMember, code: str, now: dt.datetime) -> bool:
    """Spend one of ``staff``'s recovery codes; False when unknown or already used.

    One conditional update: a code works once even with simultaneous requests;
    committed at once (:func:`_claim`).
    """
    if not code or len(code) > 64:
        return False
    return _claim(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_id == staff.id,
            StaffRecoveryCode.code_hash == _hash_code(code),
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
