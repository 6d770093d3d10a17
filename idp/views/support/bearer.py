"""Bearer-token protection for JSON APIs, with RFC 6750 §3 error answers."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import InsufficientScopeError
from flask import Response
from flask import jsonify
from flask import request

from idp.oauth.hot import TokenView
from idp.services.container import container


class BearerError(Exception):
    """The request carries no usable token; :attr:`response` says why (RFC 6750 §3)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def challenge(error: str | None = None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` value of a refused bearer request (RFC 6750 §3).

    Without ``error`` the request carried no token at all, and the challenge names only
    the realm (§3.1: no error code then).
    """
    parts = [f'realm="{container().settings.site.issuer}"']
    if error:
        parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(parts)


def _challenge(status: int, error: str | None, description: str | None) -> Response:
    body: dict[str, Any] = {}
    if error:
        body["error"] = error
        if description:
            body["error_description"] = description
    else:
        body["error"] = "invalid_token"
        body["error_description"] = "An access token is required."
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge(error, description)
    response.headers["Cache-Control"] = "no-store"
    return response


def insufficient_scope(description: str) -> BearerError:
    """A 403 ``insufficient_scope`` answer (RFC 6750 §3.1), to raise from a view."""
    return BearerError(_challenge(403, "insufficient_scope", description))


def require_token(*scopes: str) -> TokenView:
    """The valid access token of this request, carrying every scope in ``scopes``.

    :raises BearerError: with a 401 (no or bad token) or 403 (scope missing) answer.
    """
    body_token = request.form.get("access_token") if request.method == "POST" else None
    if not request.headers.get("Authorization") and body_token:
        # RFC 6750 §2.2: the token may come as a form-encoded body parameter; hand it to
        # Authlib's validator as the header it reads.
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {body_token}"
    if not request.headers.get("Authorization"):
        # §3.1: a request without credentials gets a challenge with no error code.
        raise BearerError(_challenge(401, None, None))
    try:
        token: TokenView = container().require_oauth.acquire_token(list(scopes))
    except InsufficientScopeError:
        raise BearerError(
            _challenge(403, "insufficient_scope", "The token lacks a required scope.")
        ) from None
    except OAuth2Error:
        raise BearerError(
            _challenge(401, "invalid_token", "The access token is invalid or expired.")
        ) from None
    return token
