"""Tokens as product rules see them: a patron's tokens end with a password change or reset."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from idp.extensions import db
from idp.models.token import Token


def revoke_patron_tokens(patron_id: int, now: dt.datetime) -> int:
    """Revoke every live token of a patron (password change, counter reset)."""
    result = db.session.execute(
        update(Token)
        .where(Token.patron_id == patron_id, Token.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
