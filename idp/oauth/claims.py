"""Single-use claims of codes and refresh tokens, and the storing of a new token pair.

Single use is enforced with atomic conditional updates, so that two simultaneous
redemptions of one code or one refresh token give exactly one success (RFC 6749 §4.1.2,
RFC 9700 §4.14.2), on SQLite as on PostgreSQL. Used by the Authlib grants
(:mod:`idp.oauth.grants`) and by the token endpoint's fast path.

The fast path redeems with :func:`redeem_code` and :func:`redeem_refresh`: the same
claim, then the new pair and its audit row only if the claim took the row. On
PostgreSQL that is one statement (data-modifying ``WITH``), so one round trip in
autocommit; on SQLite, the three statements in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Insert
from sqlalchemy import Update
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import literal_column
from sqlalchemy import select
from sqlalchemy import update

from idp.direct_sql import Direct
from idp.extensions import db
from idp.models.authorization_code import AuthorizationCode
from idp.models.token import Token
from idp.models.token import kept_until
from idp.oauth.hot import INSERT_TOKEN
from idp.oauth.hot import TokenView
from idp.oauth.tokens import revoke_family
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.container import container

_tokens = Token.__table__
_codes = AuthorizationCode.__table__
_CLAIM_CODE = (
    update(_codes)
    .where(_codes.c.id == bindparam("code_id"), _codes.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
)
_CLAIM_REFRESH = (
    update(_tokens)
    .where(
        _tokens.c.id == bindparam("token_id"),
        _tokens.c.rotated_at.is_(None),
        _tokens.c.revoked_at.is_(None),
    )
    .values(rotated_at=bindparam("now"))
)
_MARK_RETRY = (
    update(_tokens)
    .where(
        _tokens.c.id == bindparam("token_id"),
        _tokens.c.reused_at.is_(None),
        _tokens.c.revoked_at.is_(None),
    )
    .values(reused_at=bindparam("now"))
)
_END_SUCCESSOR = (
    update(_tokens)
    .where(
        # The family's index finds the few rows; parent_id picks the successor.
        _tokens.c.family_id == bindparam("family"),
        _tokens.c.parent_id == bindparam("token_id"),
        _tokens.c.rotated_at.is_(None),
        _tokens.c.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("now"))
)
#: The claims and the token INSERT on the driver's cursor (:mod:`idp.direct_sql`).
_DIRECT_CLAIM_CODE = Direct(_CLAIM_CODE)
_DIRECT_CLAIM_REFRESH = Direct(_CLAIM_REFRESH)
_DIRECT_INSERT_TOKEN = Direct(INSERT_TOKEN)


def claim_code(connection: Connection, code_id: int, now: dt.datetime) -> bool:
    """Mark a code used, atomically; False if it already was (single use)."""
    return _DIRECT_CLAIM_CODE.rowcount(connection, {"code_id": code_id, "now": now}) == 1


def claim_refresh(connection: Connection, token_id: int, now: dt.datetime) -> bool:
    """Mark a refresh token exchanged; False if it already was (or is revoked)."""
    return _DIRECT_CLAIM_REFRESH.rowcount(connection, {"token_id": token_id, "now": now}) == 1


def claim_retry(connection: Connection, token: TokenView, now: dt.datetime) -> bool:
    """Accept a rotated refresh token once more: mark the retry, and revoke the pair it
    was exchanged for — only if that pair's refresh token was never used. False (and
    nothing to keep) if either step finds the state changed. Must run before the new
    pair is stored, so that only the earlier successor can match."""
    params = {"token_id": token.id, "now": now}
    if connection.execute(_MARK_RETRY, params).rowcount != 1:
        return False
    successor = {**params, "family": token.family_id}
    return bool(connection.execute(_END_SUCCESSOR, successor).rowcount == 1)


def claim_for_refresh(connection: Connection, token: TokenView, now: dt.datetime) -> bool:
    """The claim of a refresh redemption: a rotation, or the one retry in the grace."""
    if token.rotated_at is not None:
        return claim_retry(connection, token, now)
    return claim_refresh(connection, token.id, now)


def store_token(connection: Connection, row: dict[str, Any]) -> None:
    """INSERT a new token pair's row (:func:`token_row`), as hashes (one Core statement,
    in the open transaction)."""
    _DIRECT_INSERT_TOKEN.rowcount(connection, row)


def token_row(
    token: dict[str, Any],
    *,
    client_id: str,
    patron_id: int | None,
    family: tuple[str, str | None, int | None],
    now: dt.datetime,
    refresh_ttl: int,
) -> dict[str, Any]:
    """The ``tokens`` row of a new token pair: its hashes, family and expiries."""
    family_id, sid, parent_id = family
    refresh = token.get("refresh_token")
    access_expires_at = now + dt.timedelta(seconds=int(token["expires_in"]))
    refresh_expires_at = now + dt.timedelta(seconds=refresh_ttl) if refresh else None
    return {
        "client_id": client_id,
        "patron_id": patron_id,
        "scope": token.get("scope", ""),
        "access_token_hash": token_hash(token["access_token"]),
        "refresh_token_hash": token_hash(refresh) if refresh else None,
        "family_id": family_id,
        "sid": sid,
        "parent_id": parent_id,
        "issued_at": now,
        "access_expires_at": access_expires_at,
        "refresh_expires_at": refresh_expires_at,
        "kept_until": kept_until(access_expires_at, refresh_expires_at),
        "rotated_at": None,
        "revoked_at": None,
        "reused_at": None,
    }


#: The columns of :func:`token_row`'s rows.
TOKEN_COLUMNS = (
    "client_id",
    "patron_id",
    "scope",
    "access_token_hash",
    "refresh_token_hash",
    "family_id",
    "sid",
    "parent_id",
    "issued_at",
    "access_expires_at",
    "refresh_expires_at",
    "kept_until",
    "rotated_at",
    "revoked_at",
    "reused_at",
)


def _redemption(claim: Update) -> Insert:
    """``claim``, the INSERT of the new pair and the INSERT of its audit row as one
    statement (PostgreSQL: data-modifying ``WITH``): the pair is stored only if the
    claim took the row, and its audit row only if the pair was stored. One statement is
    one transaction, even in autocommit, and one round trip."""
    claimed = claim.returning(literal_column("1").label("claimed")).cte("claimed")
    issued = (
        insert(_tokens)
        .from_select(
            TOKEN_COLUMNS,
            select(
                *(bindparam(f"t_{name}", type_=_tokens.c[name].type) for name in TOKEN_COLUMNS)
            ).select_from(claimed),
        )
        .returning(_tokens.c.id)
        .cte("issued")
    )
    return audit.insert_after(issued)


_REDEEM_CODE = Direct(_redemption(_CLAIM_CODE))
_REDEEM_REFRESH = Direct(_redemption(_CLAIM_REFRESH))


def redeem_code(
    connection: Connection,
    code_id: int,
    now: dt.datetime,
    token: dict[str, Any],
    audit_row: dict[str, Any],
) -> bool:
    """Claim the code, store the token pair it gives (``token``: :func:`token_row`) and
    its audit row (:func:`idp.services.audit.row_for`), in ``connection``'s transaction.
    False, with nothing written, when the code was already redeemed."""
    return _redeem(
        connection, (_REDEEM_CODE, claim_code, "code_id"), code_id, now, token, audit_row
    )


def redeem_refresh(
    connection: Connection,
    token_id: int,
    now: dt.datetime,
    token: dict[str, Any],
    audit_row: dict[str, Any],
) -> bool:
    """:func:`redeem_code` for a refresh token's rotation (:func:`claim_refresh`)."""
    return _redeem(
        connection, (_REDEEM_REFRESH, claim_refresh, "token_id"), token_id, now, token, audit_row
    )


def _redeem(
    connection: Connection,
    how: tuple[Direct, Callable[[Connection, int, dt.datetime], bool], str],
    claim_id: int,
    now: dt.datetime,
    token: dict[str, Any],
    audit_row: dict[str, Any],
) -> bool:
    together, claim, key = how
    if connection.dialect.name == "postgresql":
        values = {"now": now, key: claim_id}
        values.update((f"t_{name}", token[name]) for name in TOKEN_COLUMNS)
        values.update(audit.bound(audit_row))
        return together.rowcount(connection, values) == 1
    # SQLite has no data-modifying WITH: the three statements, in one transaction.
    if not claim(connection, claim_id, now):
        return False
    _DIRECT_INSERT_TOKEN.rowcount(connection, token)
    audit.insert_row(connection, audit_row)
    return True


def end_family_after_lost_claim(family_id: str, event: str | None, **audit_detail: Any) -> None:
    """A claim lost to a concurrent or repeated redemption: undo this request's writes,
    revoke the family (RFC 6749 §4.1.2, RFC 9700 §4.14.2) and commit that alone.

    A transaction of its own, deliberately: the rollback drops the token pair this
    request stored before its claim failed, and the revocation is committed at once —
    the token endpoint's fast path hands the request on to the full view afterwards,
    which runs (and commits) a unit of work of its own."""
    db.session.rollback()
    revoke_family(family_id, container().now())
    if event is not None:
        audit.record_in(db.session.connection(), event, **audit_detail)
    db.session.commit()
