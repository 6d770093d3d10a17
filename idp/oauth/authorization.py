"""The rules of the authorization endpoint, shared by the Authlib path
(:mod:`idp.views.authorize`, :mod:`idp.oauth.grants`, :mod:`idp.oauth.oidc`) and the
WSGI fast path (:mod:`idp.views.support.fast`): whether a sign-in satisfies a client's passkey
requirement, whether a consent covers a request, whether a nonce was seen before, and
the row of a new authorization code.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from sqlalchemy import Connection
from sqlalchemy import Insert
from sqlalchemy import bindparam
from sqlalchemy import exists
from sqlalchemy import insert
from sqlalchemy import select

from idp.direct_sql import Direct
from idp.models.authorization_code import AuthorizationCode
from idp.models.client import Client
from idp.models.consent import Consent
from idp.oauth.session_reads import TOUCH_SESSION
from idp.oauth.session_reads import touch_session
from idp.oauth.tokens import token_hash
from idp.services import audit

_codes = AuthorizationCode.__table__
_consents = Consent.__table__

_NONCE_SEEN = select(
    exists().where(
        _codes.c.client_id == bindparam("client_id"), _codes.c.nonce == bindparam("nonce")
    )
)
_CONSENTED_SCOPE = select(_consents.c.scope).where(
    _consents.c.patron_id == bindparam("patron_id"),
    _consents.c.client_id == bindparam("client_id"),
)
INSERT_CODE = insert(_codes)
#: The columns of :func:`code_values`' rows.
CODE_COLUMNS = (
    "code_hash",
    "client_id",
    "patron_id",
    "redirect_uri",
    "scope",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "auth_time",
    "sid",
    "amr",
    "created_at",
    "expires_at",
    "used_at",
)
#: The authorize fast path's statements on the driver's cursor (:mod:`idp.direct_sql`).
_DIRECT_NONCE_SEEN = Direct(_NONCE_SEEN)
_DIRECT_CONSENTED_SCOPE = Direct(_CONSENTED_SCOPE)
_DIRECT_INSERT_CODE = Direct(INSERT_CODE)


def new_code() -> str:
    """A new authorization code: 36 random bytes, 48 URL-safe characters (Authlib's
    default draws 48 characters one ``SystemRandom.choice`` at a time, ~0.2 ms)."""
    return secrets.token_urlsafe(36)


def passkey_missing(client: Client, amr: str | None) -> bool:
    """The client accepts only passkey sign-ins and this session's was not one."""
    return bool(client.require_passkey) and not amr


def nonce_seen(connection: Connection, client_id: str, nonce: str) -> bool:
    """A nonce seen before with the same client: a replayed authentication request."""
    return bool(_DIRECT_NONCE_SEEN.scalar(connection, {"client_id": client_id, "nonce": nonce}))


def consent_covers(connection: Connection, patron_id: int, client: Client, scope: str) -> bool:
    """No consent screen is due: the client is first party, or the patron's recorded
    consent covers every requested scope."""
    if client.is_first_party:
        return True
    granted = _DIRECT_CONSENTED_SCOPE.scalar(
        connection, {"patron_id": patron_id, "client_id": client.client_id}
    )
    if granted is None:
        return False
    return set(scope_to_list(scope or "")) <= set(scope_to_list(granted))


def store_code(connection: Connection, values: dict[str, Any]) -> None:
    """INSERT a new code's row (:func:`code_values`) in the connection's transaction."""
    _DIRECT_INSERT_CODE.rowcount(connection, values)


def issue_code(
    connection: Connection,
    values: dict[str, Any],
    audit_row: dict[str, Any],
    touch: dict[str, Any] | None,
) -> None:
    """Store a new code (:func:`code_values`), its audit row
    (:func:`idp.services.audit.row_for`) and, when due, the session's touch (the
    ``session_id``, ``clients`` and ``last_seen_at`` of
    :func:`idp.oauth.session_reads.touch_session`): on PostgreSQL one statement
    (data-modifying ``WITH``: one round trip, all or nothing, also in autocommit), on
    SQLite the statements in ``connection``'s transaction."""
    if connection.dialect.name == "postgresql":
        parameters = {f"c_{name}": value for name, value in values.items()}
        parameters.update(audit.bound(audit_row))
        if touch is None:
            _ISSUE_CODE.rowcount(connection, parameters)
        else:
            _ISSUE_CODE_AND_TOUCH.rowcount(connection, {**parameters, **touch})
        return
    store_code(connection, values)
    audit.insert_row(connection, audit_row)
    if touch is not None:
        touch_session(connection, **touch)


def _issue(touch: bool) -> Insert:
    code = (
        insert(_codes)
        .values({name: bindparam(f"c_{name}", type_=_codes.c[name].type) for name in CODE_COLUMNS})
        .returning(_codes.c.id)
        .cte("code")
    )
    statement = audit.insert_after(code)
    if touch:
        statement = statement.add_cte(TOUCH_SESSION.cte("touched"))
    return statement


_ISSUE_CODE = Direct(_issue(touch=False))
_ISSUE_CODE_AND_TOUCH = Direct(_issue(touch=True))


def code_values(
    code: str,
    *,
    client_id: str,
    patron_id: int,
    data: dict[str, Any],
    scope: str,
    login: tuple[str | None, int | None, str | None],
    now: dt.datetime,
    ttl: int,
) -> dict[str, Any]:
    """The row of a new authorization code (stored as its hash).

    :param data: the request's parameters; :param login: the session's sid, auth_time
        and amr.
    """
    sid, auth_time, amr = login
    return {
        "code_hash": token_hash(code),
        "client_id": client_id,
        "patron_id": patron_id,
        # Empty when the request named none (plain OAuth, one registered URI): the token
        # request then need not name it either (RFC 6749 §4.1.3).
        "redirect_uri": data.get("redirect_uri") or "",
        "scope": scope,
        "nonce": data.get("nonce"),
        "code_challenge": data.get("code_challenge"),
        "code_challenge_method": data.get("code_challenge_method"),
        "auth_time": auth_time,
        "sid": sid,
        "amr": amr,
        "created_at": now,
        "expires_at": now + dt.timedelta(seconds=ttl),
        "used_at": None,
    }
