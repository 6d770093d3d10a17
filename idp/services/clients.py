"""Client registrations: read ``clients/*.toml``, validate, and sync into the database.

A file never holds a secret in clear: it names an environment variable
(``client_secret_env``) or carries a hash (``client_secret_hash = "sha256:…"``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask import has_app_context
from sqlalchemy import select
from sqlalchemy import update

from idp.config import is_local_host
from idp.extensions import db
from idp.models.client import SECRET_HASH_PREFIX
from idp.models.client import Client
from idp.models.client import hash_client_secret
from idp.models.token import Token
from idp.services.allowance import ALLOWANCE_KEYS
from idp.services.allowance import Allowance
from idp.services.allowance import AllowanceError
from idp.services.allowance import parse_allowance
from idp.services.claims import SCOPES_SUPPORTED
from idp.services.container import container
from idp.services.destinations import DestinationError
from idp.services.destinations import check_uri
from idp.services.destinations import private_allowed
from idp.services.keys import ID_TOKEN_ALGS
from idp.services.registration_files import read_registration_files

#: Scopes for machine clients (client-credentials grant), besides the OpenID ones.
API_SCOPES = ["card:verify", "patron:authenticate"]
AUTH_METHODS = {"client_secret_basic", "client_secret_post", "none"}
#: ``urn:ietf:params:oauth:grant-type:device_code``: the Device Authorization Grant
#: (RFC 8628), for kiosks, e-readers and TV apps; the patron approves on ``/device``.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = {"authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT}
MIN_SECRET_LENGTH = 32
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ClientFileError(ValueError):
    """A client file is invalid; the message names the file and the key."""


@dataclass
class ClientSpec:
    """A validated client registration."""

    client_id: str
    name: str
    secret_hash: str | None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scopes: list[str]
    grant_types: list[str]
    token_endpoint_auth_method: str
    temporary_password_policy: str
    subject_type: str
    is_first_party: bool
    backchannel_logout_uri: str | None
    #: The client accepts only sign-ins with a passkey.
    require_passkey: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: ``backchannel_logout_allow_private``: the URI may be a private address.
    backchannel_allow_private: bool = False
    #: The credential-check API's own limits for this client (None: per address).
    allowance: Allowance | None = None
    #: ``enabled = false`` in the file: registered, but every request and token refused.
    is_enabled: bool = True
    #: How the client's ID tokens are signed (OIDC Registration §2).
    id_token_signed_response_alg: str = "RS256"  # noqa: S105 - an algorithm name


def _uri(value: Any, where: str, *, redirect: bool = True) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise ClientFileError(f"{where}: must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ClientFileError(f"{where}: {value!r} must be an absolute http(s) URL")
    if parts.scheme == "http" and not is_local_host(value):
        raise ClientFileError(f"{where}: {value!r} must use https (http only for localhost)")
    if redirect and parts.fragment:
        raise ClientFileError(f"{where}: {value!r} must not have a fragment")
    return value


def _string_list(data: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ClientFileError(f"{where}: {key} must be a list of strings")
    return list(value)


def parse_client(
    data: Mapping[str, Any],
    where: str,
    env: Mapping[str, str],
    *,
    allow_private: bool | None = None,
) -> ClientSpec:
    """Validate one client registration.

    :param where: the file name, for error messages.
    :param env: where ``client_secret_env`` is looked up.
    :param allow_private: whether back-channel URIs may name private addresses for every
        client; None: as ``IDP_BACKCHANNEL_ALLOW_PRIVATE`` says (no application: no).
    :raises ClientFileError: naming the file and the offending key.
    """
    # Long on purpose: one check per key of the file, in order, each naming its key.
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ClientFileError(f"{where}: client_id must be 1-64 letters, digits, '.', '_', '-'")
    name = data.get("name", client_id)
    if not isinstance(name, str) or not name.strip():
        raise ClientFileError(f"{where}: name must be a non-empty string")
    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientFileError(f"{where}: token_endpoint_auth_method must be one of {AUTH_METHODS}")
    secret_hash = _secret_hash(data, where, env, public=method == "none")
    scopes = _string_list(data, "scopes", where)
    unknown = set(scopes) - set(SCOPES_SUPPORTED) - set(API_SCOPES)
    if unknown:
        raise ClientFileError(f"{where}: unknown scopes {sorted(unknown)}")
    grant_types = _string_list(data, "grant_types", where) or _default_grants(scopes)
    if set(grant_types) - GRANT_TYPES:
        raise ClientFileError(f"{where}: grant_types must be among {sorted(GRANT_TYPES)}")
    if method == "none" and "client_credentials" in grant_types:
        raise ClientFileError(f"{where}: a public client cannot use client_credentials")
    redirect_uris = [
        _uri(u, f"{where}: redirect_uris") for u in _string_list(data, "redirect_uris", where)
    ]
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientFileError(f"{where}: redirect_uris is required for the code flow")
    post_logout = [
        _uri(u, f"{where}: post_logout_redirect_uris")
        for u in _string_list(data, "post_logout_redirect_uris", where)
    ]
    policy = data.get("temporary_password", "deny")
    if policy not in {"change", "deny"}:
        raise ClientFileError(f"{where}: temporary_password must be 'change' or 'deny'")
    # A client of the credential-check API sees a pairwise sub unless its file says
    # otherwise (data minimisation: a vendor cannot correlate patrons with others).
    default_subject = "pairwise" if "patron:authenticate" in scopes else "public"
    subject_type = data.get("subject_type", default_subject)
    if subject_type not in {"public", "pairwise"}:
        raise ClientFileError(f"{where}: subject_type must be 'public' or 'pairwise'")
    require_passkey = data.get("require_passkey", False)
    if not isinstance(require_passkey, bool):
        raise ClientFileError(f"{where}: require_passkey must be true or false")
    first_party = data.get("first_party", False)
    if not isinstance(first_party, bool):
        raise ClientFileError(f"{where}: first_party must be true or false")
    backchannel = data.get("backchannel_logout_uri")
    allow_own = data.get("backchannel_logout_allow_private", False)
    if not isinstance(allow_own, bool):
        raise ClientFileError(f"{where}: backchannel_logout_allow_private must be true or false")
    if backchannel is not None:
        backchannel = _uri(backchannel, f"{where}: backchannel_logout_uri")
        _check_destination(backchannel, where, allow_own or _installation_allows(allow_private))
    # Back-Channel Logout §2.2: every logout token carries ``sid``, so a client that
    # requires it is always served; the key is accepted so registrations can say so.
    if not isinstance(data.get("backchannel_logout_session_required", True), bool):
        raise ClientFileError(f"{where}: backchannel_logout_session_required must be true or false")
    id_token_alg = data.get("id_token_signed_response_alg", "RS256")
    if id_token_alg not in ID_TOKEN_ALGS:
        raise ClientFileError(
            f"{where}: id_token_signed_response_alg must be one of {', '.join(ID_TOKEN_ALGS)}"
        )
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ClientFileError(f"{where}: enabled must be true or false")
    try:
        allowance = parse_allowance(data, f"client:{client_id}")
    except AllowanceError as exc:
        raise ClientFileError(f"{where}: {exc}") from None
    if allowance is not None and "patron:authenticate" not in scopes:
        raise ClientFileError(
            f"{where}: checks_per_minute and failures_per_day are for clients with the "
            "patron:authenticate scope"
        )
    known = {
        *ALLOWANCE_KEYS,
        "client_id",
        "name",
        "client_secret_env",
        "client_secret_hash",
        "redirect_uris",
        "post_logout_redirect_uris",
        "scopes",
        "grant_types",
        "token_endpoint_auth_method",
        "temporary_password",
        "subject_type",
        "first_party",
        "require_passkey",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "backchannel_logout_allow_private",
        "enabled",
        "id_token_signed_response_alg",
    }
    return ClientSpec(
        client_id=client_id,
        name=name.strip(),
        secret_hash=secret_hash,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout,
        scopes=scopes,
        grant_types=grant_types,
        token_endpoint_auth_method=method,
        temporary_password_policy=policy,
        subject_type=subject_type,
        is_first_party=first_party,
        backchannel_logout_uri=backchannel,
        require_passkey=require_passkey,
        extra={k: v for k, v in data.items() if k not in known},
        allowance=allowance,
        backchannel_allow_private=allow_own,
        is_enabled=enabled,
        id_token_signed_response_alg=id_token_alg,
    )


def _installation_allows(allow_private: bool | None) -> bool:
    if allow_private is not None:
        return allow_private
    if not has_app_context():
        return False
    development = bool(current_app.config.get("TESTING") or current_app.config.get("DEBUG"))
    return private_allowed(container().settings.backchannel.allow_private, development)


def _check_destination(uri: str, where: str, allowed: bool) -> None:
    """Refuse a back-channel URI on a loopback, private or link-local address (SSRF)."""
    if allowed:
        return
    try:
        check_uri(uri)
    except DestinationError as exc:
        raise ClientFileError(
            f"{where}: backchannel_logout_uri: {exc}; set backchannel_logout_allow_private = "
            "true in the file if this client really is on the provider's own network"
        ) from None


def _default_grants(scopes: list[str]) -> list[str]:
    if set(scopes) & set(API_SCOPES) and "openid" not in scopes:
        return ["client_credentials"]
    grants = ["authorization_code"]
    if "offline_access" in scopes:
        grants.append("refresh_token")
    return grants


def _secret_hash(
    data: Mapping[str, Any], where: str, env: Mapping[str, str], *, public: bool
) -> str | None:
    env_name = data.get("client_secret_env")
    stored = data.get("client_secret_hash")
    if public:
        if env_name or stored:
            raise ClientFileError(f"{where}: a public client (auth method none) has no secret")
        return None
    if stored is not None:
        if not isinstance(stored, str) or not re.fullmatch(
            re.escape(SECRET_HASH_PREFIX) + "[0-9a-f]{64}", stored
        ):
            raise ClientFileError(f"{where}: client_secret_hash must be 'sha256:' + 64 hex digits")
        return stored
    if not isinstance(env_name, str) or not env_name:
        raise ClientFileError(f"{where}: set client_secret_env or client_secret_hash")
    secret = env.get(env_name)
    if not secret:
        raise ClientFileError(f"{where}: environment variable {env_name} is not set")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ClientFileError(f"{where}: the secret in {env_name} is shorter than 32 characters")
    return hash_client_secret(secret)


def load_client_files(folder: Path, env: Mapping[str, str] | None = None) -> list[ClientSpec]:
    """Read and validate every ``*.toml`` in ``folder``.

    :raises ClientFileError: on the first invalid file.
    """
    env = os.environ if env is None else env
    specs = []
    for path, data in read_registration_files(folder, ClientFileError):
        if data.get("protocol") == "saml":
            continue  # a SAML service provider: idp.saml.registry reads it
        specs.append(parse_client(data, path.name, env))
    ids = [spec.client_id for spec in specs]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ClientFileError(f"client_id used by more than one file: {sorted(duplicates)}")
    return specs


@dataclass
class SyncResult:
    """What :func:`sync_clients` did, by client id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    #: Clients missing from the folder that ``prune`` disabled now.
    disabled: list[str] = field(default_factory=list)


def sync_clients(specs: list[ClientSpec], *, prune: bool = False) -> SyncResult:
    """Create or update clients from ``specs`` (a change raises a client's version); a file
    with ``enabled = false`` disables its client (and ends its tokens).

    :param prune: disable every enabled client that has no file in ``specs`` (they are
        kept, with their history, and ``idp clients enable`` brings one back).
    """
    result = SyncResult()
    existing = {c.client_id: c for c in db.session.scalars(select(Client))}
    for spec in specs:
        client = existing.get(spec.client_id)
        if client is None:
            client = Client(client_id=spec.client_id, version=1)
            db.session.add(client)
            result.created.append(spec.client_id)
        else:
            result.updated.append(spec.client_id)
        client.name = spec.name
        client.client_secret_hash = spec.secret_hash
        client.redirect_uris = spec.redirect_uris
        client.post_logout_redirect_uris = spec.post_logout_redirect_uris
        client.scopes = spec.scopes
        client.grant_types = spec.grant_types
        client.token_endpoint_auth_method = spec.token_endpoint_auth_method
        client.temporary_password_policy = spec.temporary_password_policy
        client.subject_type = spec.subject_type
        client.is_first_party = spec.is_first_party
        client.require_passkey = spec.require_passkey
        client.backchannel_logout_uri = spec.backchannel_logout_uri
        client.backchannel_logout_allow_private = spec.backchannel_allow_private
        client.id_token_signed_response_alg = spec.id_token_signed_response_alg
        client.checks_per_minute = spec.allowance.checks_per_minute if spec.allowance else None
        client.failures_per_day = spec.allowance.failures_per_day if spec.allowance else None
        if client.is_enabled is not False and not spec.is_enabled:
            _end_tokens(spec.client_id)
        client.is_enabled = spec.is_enabled
    if prune:
        named = {spec.client_id for spec in specs}
        for client_id, client in sorted(existing.items()):
            if client_id not in named and client.is_enabled:
                client.is_enabled = False
                _end_tokens(client_id)
                result.disabled.append(client_id)
    return result


class UnknownClientError(LookupError):
    """No client is registered with this id."""


def set_client_enabled(client_id: str, enabled: bool) -> bool:
    """Enable or disable a registered client, effective on the next request everywhere.

    A disabled client cannot authenticate, and every code and token issued to it stops
    working (token exchange, refresh, userinfo, introspection, the APIs).

    :return: whether anything changed.
    :raises UnknownClientError: no such client.
    """
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is None:
        raise UnknownClientError(client_id)
    if client.is_enabled == enabled:
        return False
    client.is_enabled = enabled  # the face's commit raises the version (models/client.py)
    if not enabled:
        _end_tokens(client_id)
    return True


def _end_tokens(client_id: str) -> None:
    """Revoke every live token of a client being disabled, so that enabling it again
    does not bring them back (the token paths refuse a disabled client's tokens anyway)."""
    db.session.execute(
        update(Token)
        .where(Token.client_id == client_id, Token.revoked_at.is_(None))
        .values(revoked_at=container().now())
    )
