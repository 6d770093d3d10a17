"""Storage of the token paths: one SELECT per token or code with everything its checks
need, Core writes in the request's one transaction, and the in-process client registry.

Used by the Authlib endpoints and by the WSGI fast path (:mod:`idp.views.support.fast`) alike,
so that the rules are read from the same rows by the same functions.

* A token or code is read with its client's ``is_enabled`` and ``version`` and its
  patron's sign-in state in one statement (:func:`load_access_token`,
  :func:`load_refresh_token`, :func:`load_code`), as plain views (no ORM identity map,
  no unit of work).
* :class:`ClientRegistry` keeps each client's registration in the process, keyed by
  its ``version``: the statement that reads a token or a code also reads the client's
  current version and enabled flag, so a change (``idp clients sync``, ``disable``)
  is seen on the very next request by every process, without a further read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import cast

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select

from idp.direct_sql import Direct
from idp.models.authorization_code import AuthorizationCode
from idp.models.authorization_code import CodeAccessors
from idp.models.client import Client
from idp.models.patron import Patron
from idp.models.token import Token
from idp.models.token import TokenAccessors
from idp.services.client_registry import ClientRegistry
from idp.services.container import container

if TYPE_CHECKING:
    from idp.models.patron import Patron as PatronModel

_tokens = Token.__table__
_codes = AuthorizationCode.__table__
_clients = Client.__table__
_patrons = Patron.__table__

#: The patron columns the token paths read: sign-in state (SPEC §1) and claims.
PATRON_FIELDS = (
    "id",
    "subject",
    "card_number",
    "status",
    "expires_on",
    "is_temporary_password",
    "temporary_password_expires_at",
    "name",
    "email",
    "is_email_verified",
)
TOKEN_FIELDS = (
    "id",
    "client_id",
    "patron_id",
    "scope",
    "family_id",
    "sid",
    "issued_at",
    "access_expires_at",
    "refresh_expires_at",
    "rotated_at",
    "revoked_at",
    "reused_at",
    "parent_id",
)
CODE_FIELDS = (
    "id",
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
    "expires_at",
    "used_at",
)


class PatronView:
    """A patron's sign-in state and claims, read with a token or code.

    Carries the same attributes and rule methods as :class:`~idp.models.patron.Patron`
    (the methods are the model's own functions), so the one implementation of the
    sign-in rules (:func:`idp.services.accounts.patrons.refusal_reason`) and of the claims
    (:func:`idp.services.claims.claims_for`) serves both.
    """

    __slots__ = PATRON_FIELDS
    id: int
    subject: str
    card_number: str
    status: str
    expires_on: dt.date
    is_temporary_password: bool
    temporary_password_expires_at: dt.datetime | None
    name: str | None
    email: str | None
    is_email_verified: bool

    is_card_expired = Patron.is_card_expired
    is_temporary_password_expired = Patron.is_temporary_password_expired

    def as_patron(self) -> PatronModel:
        """This view where a function is typed for the model (same attributes)."""
        return cast("PatronModel", self)

    def __repr__(self) -> str:
        return f"<PatronView id={self.id}>"


class TokenView(TokenAccessors):
    """A token row with its client's state and its patron, for the token paths."""

    id: int
    client_id: str
    patron_id: int | None
    scope: str
    family_id: str
    sid: str | None
    issued_at: dt.datetime
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None
    reused_at: dt.datetime | None
    parent_id: int | None
    client_enabled: bool
    client_version: int
    patron: PatronView | None
    client: Client

    def is_expired(self) -> bool:
        return self.is_expired_at(container().now())

    def get_user(self) -> PatronView | None:
        return self.patron


class CodeView(CodeAccessors):
    """An authorization code row with its client's state and its patron."""

    id: int
    client_id: str
    patron_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    sid: str | None
    #: RFC 8176 method of the sign-in (``hwk``/``swk``: a passkey; None: the password).
    amr: str | None
    expires_at: dt.datetime
    used_at: dt.datetime | None
    client_enabled: bool
    client_version: int
    patron: PatronView | None


def patron_columns() -> list[Any]:
    return [_patrons.c[name].label(f"p_{name}") for name in PATRON_FIELDS]


def client_columns() -> list[Any]:
    return [_clients.c.is_enabled.label("c_enabled"), _clients.c.version.label("c_version")]


def _token_select(column: str) -> Any:
    return (
        select(*[_tokens.c[n] for n in TOKEN_FIELDS], *client_columns(), *patron_columns())
        .select_from(
            _tokens.join(_clients, _clients.c.client_id == _tokens.c.client_id).outerjoin(
                _patrons, _patrons.c.id == _tokens.c.patron_id
            )
        )
        .where(_tokens.c[column] == bindparam("digest"))
    )


# Built once: the statements are the same for every request (and compiled once).
_BY_ACCESS = _token_select("access_token_hash")
_BY_REFRESH = _token_select("refresh_token_hash")
_CODE_BY_HASH = (
    select(*[_codes.c[n] for n in CODE_FIELDS], *client_columns(), *patron_columns())
    .select_from(
        _codes.join(_clients, _clients.c.client_id == _codes.c.client_id).outerjoin(
            _patrons, _patrons.c.id == _codes.c.patron_id
        )
    )
    .where(_codes.c.code_hash == bindparam("digest"))
)
_CLIENT_STATE = select(_clients.c.is_enabled, _clients.c.version).where(
    _clients.c.client_id == bindparam("client_id")
)
INSERT_TOKEN = insert(_tokens)


#: The three reads of the token paths, run on the driver's cursor (:mod:`idp.direct_sql`).
_READ_ACCESS = Direct(_BY_ACCESS)
_READ_REFRESH = Direct(_BY_REFRESH)
_READ_CODE = Direct(_CODE_BY_HASH)
_PATRON_KEYS = tuple((name, f"p_{name}") for name in PATRON_FIELDS)


def patron_of(row: Mapping[str, Any]) -> PatronView | None:
    """The patron columns of ``row`` (labelled ``p_…``) as a view (None: no patron)."""
    if row["p_id"] is None:
        return None
    view = PatronView.__new__(PatronView)
    for name, key in _PATRON_KEYS:
        setattr(view, name, row[key])
    return view


def _fill(view: Any, row: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        setattr(view, name, row[name])
    view.client_enabled = bool(row["c_enabled"])
    view.client_version = int(row["c_version"])
    view.patron = patron_of(row)


def reader(engine: Engine) -> Engine:
    """The engine for single-SELECT reads: autocommit on PostgreSQL, so that a read is
    one round trip (no BEGIN/ROLLBACK around it). SQLite's driver begins transactions
    only for writes, so its plain engine already reads that way."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


_View = TypeVar("_View", TokenView, CodeView)


def _load(
    connection: Connection, read: Direct, digest: str, kind: type[_View], fields: tuple[str, ...]
) -> _View | None:
    """A ``kind`` filled from the row ``read`` finds for ``digest`` (None: no row)."""
    row = read.first(connection, {"digest": digest})
    if row is None:
        return None
    view = kind()
    _fill(view, row, fields)
    return view


def load_access_token(connection: Connection, digest: str) -> TokenView | None:
    """The token whose access token hashes to ``digest``, with client state and patron."""
    return _load(connection, _READ_ACCESS, digest, TokenView, TOKEN_FIELDS)


def load_refresh_token(connection: Connection, digest: str) -> TokenView | None:
    """The token whose refresh token hashes to ``digest``, with client state and patron."""
    return _load(connection, _READ_REFRESH, digest, TokenView, TOKEN_FIELDS)


def load_code(connection: Connection, digest: str) -> CodeView | None:
    """The authorization code hashing to ``digest``, with client state and patron."""
    return _load(connection, _READ_CODE, digest, CodeView, CODE_FIELDS)


def client_state(connection: Connection, client_id: str) -> tuple[bool, int] | None:
    """A client's enabled flag and registration version (None: not registered)."""
    row = connection.execute(_CLIENT_STATE, {"client_id": client_id}).first()
    return (bool(row.is_enabled), int(row.version)) if row is not None else None


def client_registry() -> ClientRegistry:
    """The application's client registry."""
    return container().client_registry


def attach_client(view: TokenView) -> bool:
    """Give ``view`` its client's registration (of the version read with it)."""
    client = client_registry().get(view.client_id, view.client_version)
    if client is None:
        return False
    view.client = client
    return True


# --- the authorization endpoint's fast path ---------------------------------------------
