"""Device Authorization Grant (RFC 8628) on Authlib's ``authlib.oauth2.rfc8628``.

:class:`DeviceAuthorizationEndpoint` answers ``POST /device_authorization`` (§3.1–3.2)
with a device code (kept as a hash), a user code and ``/device``; :class:`DeviceCodeGrant`
answers the device's polls at ``/token`` (§3.4–3.5): ``authorization_pending`` until the
patron decides, ``slow_down`` (and 5 s more on the interval) when it polls too fast,
``access_denied``, ``expired_token``, then tokens once — the code is claimed atomically.
A patron who may not receive tokens (temporary or expired password, expired card, any
status but active) gets none here either, whatever they approved earlier.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import UnauthorizedClientError
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from authlib.oauth2.rfc8628 import AuthorizationPendingError
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _Endpoint
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _Grant
from authlib.oauth2.rfc8628 import ExpiredTokenError
from authlib.oauth2.rfc8628 import SlowDownError
from flask import g
from flask import request as flask_request
from sqlalchemy import select
from sqlalchemy import update

from idp.extensions import db
from idp.models.device import APPROVED
from idp.models.device import DENIED
from idp.models.device import USED
from idp.models.device import DeviceAuthorization
from idp.models.patron import Patron
from idp.oauth.grants import TOKEN_AUTH_METHODS
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.container import container
from idp.services.device import display_user_code
from idp.services.device import new_user_code
from idp.services.signin import refusal_reason

#: The family of tokens issued for one device request (revocation, refresh rotation).
FAMILY_PREFIX = "device-"


class DeviceAuthorizationEndpoint(_Endpoint):  # type: ignore[misc]
    """RFC 8628 §3.1: a client that lists the device grant asks for a code pair."""

    ENDPOINT_NAME = "device_authorization"
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def authenticate_client(self, request: Any) -> Any:
        client = super().authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the device grant.")
        return client

    def create_endpoint_response(self, request: Any) -> Any:
        # One endpoint object serves every thread: the request's own values live in
        # ``g``, never on ``self``.
        settings = container().settings
        expires_in = settings.tokens.device_code_ttl
        interval = settings.tokens.device_poll_interval
        status, body, headers = super().create_endpoint_response(request)
        body = {**body, "expires_in": expires_in, "interval": interval}
        self._save(request.client.get_client_id(), request.payload.scope, body)
        headers = [*headers, ("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        return status, body, headers

    def generate_user_code(self) -> str:
        g.idp_user_code = new_user_code(container().now())
        return display_user_code(g.idp_user_code)

    def generate_device_code(self) -> str:
        return secrets.token_urlsafe(32)

    def get_verification_uri(self) -> str:
        return f"{container().settings.site.issuer}/device"

    def save_device_credential(
        self, client_id: str, scope: str | None, data: dict[str, Any]
    ) -> None:
        # Saved by :meth:`_save` once this installation's lifetimes are in ``data``.
        pass

    def _save(self, client_id: str, scope: str | None, data: dict[str, Any]) -> None:
        now = container().now()
        client = self.server.query_client(client_id)
        allowed = client.get_allowed_scope(scope) if client is not None else ""
        db.session.add(
            DeviceAuthorization(
                device_code_hash=token_hash(data["device_code"]),
                user_code=g.idp_user_code,
                client_id=client_id,
                scope=allowed,
                interval=int(data["interval"]),
                created_at=now,
                expires_at=now + dt.timedelta(seconds=int(data["expires_in"])),
            )
        )
        audit.record(
            "device.requested",
            client_id=client_id,
            ip=flask_request.remote_addr,
            user_agent=flask_request.user_agent.string,
        )


_BY_HASH = select(DeviceAuthorization)


def _receiving_patron(patron_id: int | None) -> Patron:
    """The approving patron, if they may receive tokens now (SPEC §1)."""
    patron = db.session.get(Patron, patron_id) if patron_id is not None else None
    if patron is None or refusal_reason(patron, container().now()) is not None:
        raise InvalidGrantError("The patron may not sign in at this time.")
    return patron


class DeviceCodeGrant(_Grant):  # type: ignore[misc]
    """RFC 8628 §3.4: the device's polls at the token endpoint."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_device_credential(self, device_code: str) -> DeviceAuthorization | None:
        if not isinstance(device_code, str) or len(device_code) > 128:
            return None
        row: DeviceAuthorization | None = db.session.scalar(
            _BY_HASH.where(DeviceAuthorization.device_code_hash == token_hash(device_code))
        )
        return row

    def validate_device_credential(self, credential: DeviceAuthorization) -> Patron:
        now = container().now()
        if credential.status == USED:
            raise InvalidGrantError("The device code was already used.")
        if credential.is_expired_at(now):
            raise ExpiredTokenError()
        if credential.status == DENIED:
            raise AccessDeniedError()
        if credential.status == APPROVED:
            # The invariant: a temporary or expired password, an expired card or an
            # inactive status gets no token, even after approving.
            return _receiving_patron(credential.patron_id)
        too_fast = self.should_slow_down(credential)
        values: dict[str, Any] = {"last_polled_at": now}
        if too_fast:
            values["interval"] = credential.interval + 5  # RFC 8628 §3.5
        db.session.execute(
            update(DeviceAuthorization)
            .where(DeviceAuthorization.id == credential.id)
            .values(**values)
        )
        if too_fast:
            raise SlowDownError()
        raise AuthorizationPendingError()

    def should_slow_down(self, credential: DeviceAuthorization) -> bool:
        last = credential.last_polled_at
        if last is None:
            return False
        return bool(container().now() - last < dt.timedelta(seconds=credential.interval))

    def query_user_grant(self, user_code: str) -> Any:  # pragma: no cover - not used
        raise NotImplementedError

    def save_token(self, token: dict[str, Any]) -> None:
        # Claim the approved request atomically: two polls racing get one token.
        credential: DeviceAuthorization = self.request.credential
        claimed = db.session.execute(
            update(DeviceAuthorization)
            .where(DeviceAuthorization.id == credential.id, DeviceAuthorization.status == APPROVED)
            .values(status=USED)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            raise InvalidGrantError("The device code was already used.")
        super().save_token(token)
        audit.record(
            "token.issued",
            patron_id=credential.patron_id,
            client_id=credential.client_id,
            grant="device_code",
            ip=flask_request.remote_addr,
            user_agent=flask_request.user_agent.string,
        )
