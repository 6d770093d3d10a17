"""``POST /api/patrons/authenticate``: the credential check for vendors' own login forms.

A registered, confidential client with a client-credentials token carrying the scope
``patron:authenticate`` sends ``{"card_number", "password"}`` and gets
``{"valid", "reason"}`` (and the claims it may see when valid). Errors follow RFC 6750 §3
(401/403 for the token) and RFC 6749 §5.2's JSON shape (400 ``invalid_request``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from idp.extensions import csrf_exempt
from idp.services.patron_check import SCOPE
from idp.services.patron_check import check_credentials
from idp.views.support.bearer import BearerError
from idp.views.support.bearer import insufficient_scope
from idp.views.support.bearer import require_token
from idp.views.support.caller import caller_address
from idp.views.support.caller import caller_user_agent

bp = Blueprint("patron_api", __name__)

#: Longest values accepted (as the hosted login form: 64 and 256 characters).
MAX_CARD_NUMBER = 64
MAX_PASSWORD = 256
MAX_IP = 64


class InvalidRequest(ValueError):
    """The body is not a well-formed credential check; the message says what is wrong."""


def _bad_request(description: str) -> Response:
    response = jsonify({"error": "invalid_request", "error_description": description})
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{key}' must be a non-empty string.")
    if len(value) > limit:
        raise InvalidRequest(f"'{key}' is longer than {limit} characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can carry lone surrogates ("\ud800"), which no password or card contains.
        raise InvalidRequest(f"'{key}' is not valid Unicode text.") from None
    if "\x00" in value:
        raise InvalidRequest(f"'{key}' contains a NUL character.")
    return value


def parse_body() -> tuple[str, str, str | None]:
    """The card number, password and optional patron address of the JSON body.

    :raises InvalidRequest: for anything but a JSON object with the right members.
    """
    if not request.is_json:
        raise InvalidRequest("The body must be JSON (Content-Type: application/json).")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    card_number = _text(body, "card_number", MAX_CARD_NUMBER)
    password = _text(body, "password", MAX_PASSWORD)
    patron_ip = _text(body, "patron_ip", MAX_IP, required=False)
    if patron_ip is not None:
        try:
            patron_ip = str(ipaddress.ip_address(patron_ip))
        except ValueError:
            raise InvalidRequest("'patron_ip' must be an IPv4 or IPv6 address.") from None
    assert card_number is not None and password is not None  # noqa: S101 - required=True
    return card_number, password, patron_ip


@bp.route("/api/patrons/authenticate", methods=["POST"])
@csrf_exempt  # bearer-token API for servers, not a browser form
def authenticate() -> Any:
    """Tell a registered client whether a card number and password are right."""
    try:
        token = require_token(SCOPE)
        client = token.get_client()
        if token.patron_id is not None:
            # Only the client's own client-credentials token: a token issued for a
            # patron must never check other patrons' passwords.
            raise insufficient_scope("A client-credentials token is required.")
        if client is None or not client.is_enabled or SCOPE not in client.scopes:
            raise insufficient_scope("The client is not registered for patron:authenticate.")
    except BearerError as error:
        return error.response
    try:
        card_number, password, patron_ip = parse_body()
    except InvalidRequest as exc:
        return _bad_request(str(exc))
    check = check_credentials(
        client,
        token.scope,
        card_number,
        password,
        caller_ip=caller_address(),
        patron_ip=patron_ip,
        user_agent=caller_user_agent(),
    )
    response = jsonify(check.as_json())
    response.headers["Cache-Control"] = "no-store"
    if check.retry_after:
        # The answer stays 200 (the check was carried out; "throttled" is its result),
        # and says when to try again as RFC 9110 §10.2.3 does for 429 and 503.
        response.headers["Retry-After"] = str(check.retry_after)
    return response
