"""Authorization requests waiting for the patron: kept in the session while they log in.

A request is stored under a random id (``rid``) that the login and consent pages carry;
a browser may have a few in flight at once (several tabs or clients).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import request
from flask import session
from flask import url_for
from flask_wtf.csrf import generate_csrf

#: How many requests one browser may have waiting at once; the oldest is dropped.
MAX_PENDING = 5
#: Upper bound for one stored request, in characters of its encoded form.
MAX_REQUEST_SIZE = 8192


def request_digest(params: dict[str, str]) -> str:
    """A stable digest of an authorization request's parameters."""
    body = json.dumps(sorted(params.items()), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def remember(params: dict[str, str]) -> str:
    """Store an authorization request and return its id.

    The page it leads to (login, consent) has a form: its CSRF token is made now, in
    the same session write, so that showing the page writes nothing.
    """
    generate_csrf()
    pending: dict[str, Any] = dict(session.get("pending", {}))
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    rid = secrets.token_urlsafe(12)
    pending[rid] = params
    session["pending"] = pending
    return rid


def recall(rid: str | None) -> dict[str, str] | None:
    """The stored request with this id, or None."""
    if not rid:
        return None
    found = session.get("pending", {}).get(rid)
    return dict(found) if isinstance(found, dict) else None


def forget(rid: str) -> None:
    """Drop a stored request."""
    pending = dict(session.get("pending", {}))
    if pending.pop(rid, None) is not None:
        session["pending"] = pending


def authorize_url(params: dict[str, str]) -> str:
    """The URL that replays ``params``: the authorization endpoint, or for a SAML
    request (``protocol=saml``) the SAML IdP's resume endpoint."""
    if params.get("protocol") == "saml":
        return url_for("saml.resume") + "?" + urlencode(params)
    return url_for("authorize.authorize") + "?" + urlencode(params)


def mark(kind: str, params: dict[str, str]) -> None:
    """Note that ``kind`` (login, consent, deny) just happened for this request."""
    session[f"done_{kind}"] = request_digest(params)


def asks_fresh_login(params: dict[str, str]) -> bool:
    """The OpenID request may want a sign-in newer than the session's: ``prompt=login``,
    or a ``max_age`` (OIDC Core §3.1.2.1). Only such a request reads the login mark."""
    return "login" in params.get("prompt", "").split() or "max_age" in params


def mark_login(params: dict[str, str]) -> None:
    """Note a sign-in for the request it was made for, when the request will ask: a
    SAML request always does, an OpenID request when :func:`asks_fresh_login`. Any
    other request finds the patron signed in either way; without a mark to drop, its
    replay writes nothing to the session beyond the code and the fast path answers it
    (:mod:`idp.views.support.fast_authorize`)."""
    if params.get("protocol") == "saml" or asks_fresh_login(params):
        mark("login", params)


def take_mark(kind: str, params: dict[str, str]) -> bool:
    """True, once, when ``kind`` happened for exactly this request."""
    key = f"done_{kind}"
    if key not in session:
        return False
    return bool(session.pop(key) == request_digest(params))


def pending_ui_locales() -> str:
    """``ui_locales`` of the authorization request a page works on (``rid``), if any."""
    rid = request.args.get("rid")
    if not rid and "form" in request.__dict__:
        # Only a body the view already parsed: never parse one here (an oversized or
        # malformed body must reach its own 413/400 answer, not fail in the selector).
        rid = request.form.get("rid")
    if not rid:
        marker = session.get("password_change")
        rid = marker.get("rid") if isinstance(marker, dict) else None
    params = recall(rid) if rid else None
    return (params or {}).get("ui_locales", "")
