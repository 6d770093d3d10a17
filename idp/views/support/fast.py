"""The WSGI fast path of ``/token``, ``/userinfo`` and ``/introspect``.

The common successful requests — a code exchange or refresh by an authenticated client,
userinfo with a bearer header, a client introspecting its own token — are answered
here, before Flask builds a request, a session or a locale. Every check is made by the
same functions the Authlib endpoints call (:mod:`idp.oauth.grants`,
:mod:`idp.oauth.tokens`, :mod:`idp.oauth.oidc`, the client model's own methods), on
the rows read by the same statements (:mod:`idp.oauth.hot`). Whatever is not such a
success — an error to answer, an unusual parameter, a retry within the refresh grace,
a reused code — goes to the application with the request intact (the body is kept
and handed on), where Authlib answers it.

``IDP_FAST_PATH=0`` turns it off (every request through Flask and Authlib); the
protocol and security tests run both ways.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7636.challenge import CODE_CHALLENGE_PATTERN
from authlib.oidc.core.grants.util import is_openid_scope
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy import Engine
from werkzeug.http import parse_cookie

from idp.extensions import db
from idp.logs import SANE_REQUEST_ID
from idp.logs import access_log
from idp.logs import current_request_id
from idp.metrics import current_metrics
from idp.models.client import Client
from idp.oauth.authorization import INSERT_CODE
from idp.oauth.authorization import code_values
from idp.oauth.authorization import consent_covers
from idp.oauth.authorization import new_code
from idp.oauth.authorization import nonce_seen
from idp.oauth.authorization import passkey_missing
from idp.oauth.claims import claim_code
from idp.oauth.claims import claim_for_refresh
from idp.oauth.claims import end_family_after_lost_claim
from idp.oauth.claims import store_token
from idp.oauth.endpoints import introspection_payload
from idp.oauth.grants import code_is_redeemable
from idp.oauth.grants import pkce_matches
from idp.oauth.grants import receiving_patron
from idp.oauth.grants import refresh_is_redeemable
from idp.oauth.hot import PatronView
from idp.oauth.hot import attach_client
from idp.oauth.hot import client_registry
from idp.oauth.hot import load_access_token
from idp.oauth.hot import load_code
from idp.oauth.hot import load_refresh_token
from idp.oauth.hot import load_session_for
from idp.oauth.hot import reader
from idp.oauth.hot import touch_session
from idp.oauth.oidc import id_token_for
from idp.oauth.tokens import bearer_refusal
from idp.oauth.tokens import find_presented_token
from idp.oauth.tokens import generate_bearer_token
from idp.oauth.tokens import token_hash
from idp.services import audit
from idp.services.claims import claims_for
from idp.settings import Settings
from idp.settings import app_settings
from idp.views.passkeys import AMR_KEY
from idp.views.support import pending
from idp.views.support.headers import CSP
from idp.views.support.headers import CSP_NONE
from idp.views.support.headers import HSTS
from idp.views.support.sessions import HOST_PREFIX
from idp.views.support.sessions import is_due_a_touch
from idp.views.support.sessions import is_live

log = logging.getLogger(__name__)
#: Longest form body the fast path reads (larger ones go to Flask, which limits them).
MAX_BODY = 8192


class Fallthrough(Exception):
    """Not a common success: the application answers this request."""


class Answer:
    """A JSON answer of the fast path."""

    __slots__ = ("body", "client_id", "endpoint", "headers", "status", "status_code")

    def __init__(self, body: dict[str, Any], endpoint: str, client_id: str | None) -> None:
        self.status = "200 OK"
        self.status_code = 200
        self.body = json.dumps(body).encode()
        self.endpoint = endpoint
        self.client_id = client_id
        self.headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Content-Security-Policy", CSP_NONE),
        ]


class Redirect(Answer):
    """The authorization endpoint's redirect back to the client (headers as the Flask
    view's: an empty text/html answer, so the page policy)."""

    def __init__(self, location: str, endpoint: str, client_id: str) -> None:
        self.status = "302 FOUND"
        self.status_code = 302
        self.body = b""
        self.endpoint = endpoint
        self.client_id = client_id
        self.headers = [
            ("Location", location),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
            ("Content-Security-Policy", CSP),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ]


class Call:
    """What a handler needs of one request."""

    __slots__ = ("environ", "form", "now", "remote_addr", "user_agent")

    def __init__(self, environ: dict[str, Any], form: dict[str, str], remote_addr: str | None):
        self.environ = environ
        self.form = form
        self.remote_addr = remote_addr
        self.user_agent = str(environ.get("HTTP_USER_AGENT", ""))
        from idp.services.container import container

        self.now = container().now()


def _form(raw: bytes) -> dict[str, str]:
    """An urlencoded body with each parameter once (anything else: the slow path)."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Fallthrough from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise Fallthrough  # a repeated parameter: Authlib refuses it
    return form


def _authenticated_client(call: Call, client_id: str, version: int, endpoint: str) -> Client:
    """The client of a token or code (``client_id``, registration ``version``), if the
    request authenticates as that client with a method it may use at ``endpoint``
    (the model's own checks, as Authlib calls them)."""
    header = str(call.environ.get("HTTP_AUTHORIZATION", ""))
    form = call.form
    if header:
        if not header.startswith("Basic ") or "client_secret" in form:
            raise Fallthrough
        try:
            named, secret = extract_basic_authorization({"Authorization": header})
        except (ValueError, UnicodeDecodeError):
            raise Fallthrough from None
        method = "client_secret_basic"
        if "client_id" in form and form["client_id"] != named:
            raise Fallthrough
    elif "client_secret" in form:
        named, secret, method = form.get("client_id"), form["client_secret"], "client_secret_post"
    else:
        named, secret, method = form.get("client_id"), None, "none"
    if named != client_id:
        raise Fallthrough
    client = client_registry().get(client_id, version)
    if client is None or not client.is_enabled:
        raise Fallthrough
    if not client.check_endpoint_auth_method(method, endpoint):
        raise Fallthrough
    if method == "none":
        if not client.is_public:
            raise Fallthrough
    elif not client.check_client_secret(secret):
        raise Fallthrough
    return client


def _patron(patron: PatronView | None, call: Call) -> PatronView:
    try:
        return receiving_patron(patron, call.now)
    except Exception:
        raise Fallthrough from None


def _issue(
    call: Call, grant_type: str, client: Client, patron: PatronView, scope: str
) -> dict[str, Any]:
    return generate_bearer_token(
        grant_type,
        client,
        user=patron,
        scope=scope,
        include_refresh_token=grant_type == "refresh_token"
        or client.check_grant_type("refresh_token"),
    )


def token_endpoint(path: FastPath, call: Call) -> Answer:
    """``POST /token``: a code exchange or a refresh that succeeds."""
    grant_type = call.form.get("grant_type")
    if grant_type == "authorization_code":
        return _code_exchange(path, call)
    if grant_type == "refresh_token":
        return _refresh(path, call)
    raise Fallthrough


CODE_PARAMETERS = {
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
}


def _code_exchange(path: FastPath, call: Call) -> Answer:
    form = call.form
    if set(form) - {
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "client_id",
        "client_secret",
    }:
        raise Fallthrough
    value = form.get("code")
    if not value or len(value) > 512:
        raise Fallthrough
    connection = db.session.connection()
    code = load_code(connection, token_hash(value))
    if code is None:
        raise Fallthrough
    client = _authenticated_client(call, code.client_id, code.client_version, "token")
    if (
        not client.check_grant_type("authorization_code")
        or not code_is_redeemable(code, client.client_id, call.now)
        or form.get("redirect_uri") != code.redirect_uri
        or not pkce_matches(code, form.get("code_verifier"))
    ):
        raise Fallthrough
    patron = _patron(code.patron, call)
    token = _issue(call, "authorization_code", client, patron, code.scope)
    if is_openid_scope(token.get("scope")):
        # Signed before the first write: SQLite holds its write lock from there on.
        token["id_token"] = id_token_for(code, client, patron, token["access_token"])
    settings = path.settings
    store_token(
        connection,
        token,
        client_id=client.client_id,
        patron_id=patron.id,
        family=(f"code-{code.id}", code.sid, None),
        now=call.now,
        refresh_ttl=settings.tokens.refresh_token_ttl,
    )
    if not claim_code(connection, code.id, call.now):
        # Redeemed meanwhile: undo, revoke what it issued; the slow path then answers
        # (and records) the second redemption.
        end_family_after_lost_claim(f"code-{code.id}", None)
        raise Fallthrough
    audit.record_in(
        connection,
        "token.issued",
        patron_id=patron.id,
        client_id=client.client_id,
        ip=call.remote_addr,
        user_agent=call.user_agent,
        grant="authorization_code",
    )
    db.session.commit()
    return Answer(token, "token.issue_token", client.client_id)


def _refresh(path: FastPath, call: Call) -> Answer:
    form = call.form
    if set(form) - {"grant_type", "refresh_token", "client_id", "client_secret"}:
        raise Fallthrough  # e.g. a narrower scope: Authlib
    value = form.get("refresh_token")
    if not value or len(value) > 512:
        raise Fallthrough
    connection = db.session.connection()
    old = load_refresh_token(connection, token_hash(value))
    if old is None or old.rotated_at is not None:
        raise Fallthrough  # unknown, or a retry or reuse: Authlib
    client = _authenticated_client(call, old.client_id, old.client_version, "token")
    grace = path.settings.tokens.refresh_reuse_grace
    if not client.check_grant_type("refresh_token") or not refresh_is_redeemable(
        old, client.client_id, call.now, grace
    ):
        raise Fallthrough
    patron = _patron(old.patron, call)
    if not claim_for_refresh(connection, old, call.now):
        db.session.rollback()
        raise Fallthrough  # rotated meanwhile: Authlib sees the reuse
    token = _issue(call, "refresh_token", client, patron, old.scope)
    store_token(
        connection,
        token,
        client_id=client.client_id,
        patron_id=patron.id,
        family=(old.family_id, old.sid, old.id),
        now=call.now,
        refresh_ttl=path.settings.tokens.refresh_token_ttl,
    )
    audit.record_in(
        connection,
        "token.issued",
        patron_id=patron.id,
        client_id=client.client_id,
        ip=call.remote_addr,
        user_agent=call.user_agent,
        grant="refresh_token",
    )
    db.session.commit()
    return Answer(token, "token.issue_token", client.client_id)


def userinfo_endpoint(path: FastPath, call: Call) -> Answer:
    """``GET``/``POST /userinfo`` with ``Authorization: Bearer`` and a good token."""
    header = str(call.environ.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > 512 or call.form:
        raise Fallthrough
    with path.read() as connection:
        view = load_access_token(connection, token_hash(value))
    if view is None or not attach_client(view):
        raise Fallthrough
    if bearer_refusal(view, call.now, ["openid"]) is not None or view.patron is None:
        raise Fallthrough
    body = claims_for(view.patron.as_patron(), view.client, view.scope)
    return Answer(body, "userinfo.userinfo", view.client_id)


def introspection_endpoint(path: FastPath, call: Call) -> Answer:
    """``POST /introspect`` by the client a known token was issued to."""
    form = call.form
    if set(form) - {"token", "token_type_hint", "client_id", "client_secret"}:
        raise Fallthrough
    value = form.get("token")
    hint = form.get("token_type_hint")
    if not value or len(value) > 512 or hint not in (None, "access_token", "refresh_token"):
        raise Fallthrough
    with path.read() as connection:
        found = find_presented_token(connection, value, hint)
    if found is None:
        raise Fallthrough
    view, kind = found
    client = _authenticated_client(call, view.client_id, view.client_version, "introspection")
    if client.is_public:
        raise Fallthrough
    return Answer(
        introspection_payload(view, kind, call.now), "token.introspect_token", client.client_id
    )


#: The parameters of the common authorization request; any other one (``prompt``,
#: ``max_age``, ``request`` …) is for the Flask view.
AUTHORIZE_PARAMETERS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)


def authorize_endpoint(path: FastPath, call: Call) -> Answer:
    """``GET /authorize`` by a signed-in browser, for a client that needs no consent
    screen now: a new code, back to the client (the checks of idp/views/authorize.py
    and Authlib's validation, by the same functions)."""
    query = str(call.environ.get("QUERY_STRING", ""))
    if len(query) > pending.MAX_REQUEST_SIZE or "%00" in query:
        raise Fallthrough
    params = _form(query.encode("latin-1"))
    if set(params) - AUTHORIZE_PARAMETERS or "\x00" in "".join(params.values()):
        raise Fallthrough
    client_id = params.get("client_id")
    redirect_uri = params.get("redirect_uri")
    challenge = params.get("code_challenge")
    if (
        params.get("response_type") != "code"
        or not client_id
        or len(client_id) > 64
        or not redirect_uri
        or params.get("code_challenge_method") != "S256"
        or not challenge
        or not CODE_CHALLENGE_PATTERN.match(challenge)
    ):
        raise Fallthrough
    token = path.session_token(call.environ)
    if not token:
        raise Fallthrough
    connection = db.session.connection()
    login = load_session_for(connection, token_hash(token), client_id)
    settings = path.settings
    if (
        login is None
        or login.patron_id is None
        or not is_live(
            login.expires_at, login.last_seen_at, call.now, settings.sessions.idle_timeout
        )
        or any(key.startswith("done_") for key in login.data)
        or not login.client_enabled
        or login.client_version is None
    ):
        raise Fallthrough
    patron = _patron(login.patron, call)
    client = client_registry().get(client_id, login.client_version)
    scope = params.get("scope", "")
    if (
        client is None
        or not client.is_enabled
        or not client.check_redirect_uri(redirect_uri)
        or not client.check_response_type("code")
    ):
        raise Fallthrough
    amr = login.data.get(AMR_KEY)
    allowed = client.get_allowed_scope(scope)
    nonce = params.get("nonce")
    if (
        passkey_missing(client, amr)
        or (nonce and nonce_seen(connection, client_id, nonce))
        or not consent_covers(connection, patron.id, client, allowed)
    ):
        raise Fallthrough
    code = new_code()
    connection.execute(
        INSERT_CODE,
        code_values(
            code,
            client_id=client_id,
            patron_id=patron.id,
            data=params,
            scope=allowed,
            login=(login.sid, login.auth_time, amr),
            now=call.now,
            ttl=settings.tokens.code_ttl,
        ),
    )
    audit.record_in(
        connection,
        "code.issued",
        patron_id=patron.id,
        client_id=client_id,
        ip=call.remote_addr,
        user_agent=call.user_agent,
    )
    seen = list(login.clients or [])
    if client_id not in seen or is_due_a_touch(login.last_seen_at, call.now):
        if client_id not in seen:
            seen.append(client_id)
        last_seen = call.now if is_due_a_touch(login.last_seen_at, call.now) else login.last_seen_at
        touch_session(connection, login.id, seen, last_seen)
    db.session.commit()
    answer = [("code", code)]
    if params.get("state"):
        answer.append(("state", params["state"]))
    answer.append(("iss", settings.site.issuer))
    return Redirect(add_params_to_uri(redirect_uri, answer), "authorize.authorize", client_id)


Handler = Callable[["FastPath", Call], Answer]
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/authorize"): authorize_endpoint,
    ("POST", "/token"): token_endpoint,
    ("GET", "/userinfo"): userinfo_endpoint,
    ("POST", "/userinfo"): userinfo_endpoint,
    ("POST", "/introspect"): introspection_endpoint,
}


class _Reader:
    """A pooled connection in autocommit for one read (one round trip)."""

    __slots__ = ("connection", "engine")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None

    def __enter__(self) -> Connection:
        self.connection = self.engine.connect()
        return self.connection

    def __exit__(self, *exc: object) -> None:
        if self.connection is not None:
            self.connection.close()


class FastPath:
    """WSGI middleware in front of the application (see the module's docstring)."""

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.enabled = app_settings(app).site.fast_path
        self.trust_proxy = app_settings(app).site.trust_proxy
        self.issuer_is_https = app_settings(app).site.issuer.startswith("https://")
        self._reader: Engine | None = None
        #: Requests answered here (approximate under threads; tests read it).
        self.answered = 0

    @property
    def settings(self) -> Settings:
        """The application's settings (read at each use: tests may replace them)."""
        return app_settings(self.app)

    def session_token(self, environ: dict[str, Any]) -> str | None:
        """The browser's server-side session id from its cookie (as
        :meth:`idp.views.support.sessions.ServerSessionInterface.cookie_name` names it), if any."""
        name = self.settings.sessions.cookie
        if self._is_tls(environ) and not name.startswith(HOST_PREFIX):
            name = HOST_PREFIX + name
        token = parse_cookie(str(environ.get("HTTP_COOKIE", ""))).get(name)
        if not token or "." in token or len(token) > 128:
            return None  # none, or an anonymous (signed) one
        return token

    def read(self) -> _Reader:
        if self._reader is None:
            self._reader = reader(db.engine)
        return _Reader(self._reader)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        handler = ROUTES.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        if (
            handler is None
            or not self.enabled
            or (environ.get("QUERY_STRING") and handler is not authorize_endpoint)
        ):
            return self.wsgi_app(environ, start_response)  # type: ignore[no-any-return]
        started = time.perf_counter()
        raw = b""
        if environ["REQUEST_METHOD"] == "POST":
            ctype = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return self.wsgi_app(environ, start_response)  # type: ignore[no-any-return]
            if length > MAX_BODY or (length and ctype != "application/x-www-form-urlencoded"):
                return self.wsgi_app(environ, start_response)  # type: ignore[no-any-return]
            raw = environ["wsgi.input"].read(length) if length else b""
            # The application reads the same bytes if it answers after all.
            environ["wsgi.input"] = io.BytesIO(raw)
        incoming = str(environ.get("HTTP_X_REQUEST_ID", ""))
        rid = incoming if SANE_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        marker = current_request_id.set(rid)
        try:
            with self.app.app_context():
                answer = self._answer(handler, environ, raw)
                if answer is not None:
                    self._log(environ, answer, rid, time.perf_counter() - started)
        finally:
            current_request_id.reset(marker)
        if answer is None:
            # The application answers in its own context, with its own request id and
            # access line.
            return self.wsgi_app(environ, start_response)  # type: ignore[no-any-return]
        self.answered += 1
        headers = [
            *answer.headers,
            ("Content-Length", str(len(answer.body))),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Request-ID", rid),
        ]
        if self._is_tls(environ):
            headers.append(("Strict-Transport-Security", HSTS))
        start_response(answer.status, headers)
        return [answer.body]

    def _answer(self, handler: Handler, environ: dict[str, Any], raw: bytes) -> Answer | None:
        """The handler's answer, or None to hand the request on. Nothing is committed
        before a handler has everything it answers with, so handing on after any
        failure never repeats a redemption."""
        try:
            call = Call(environ, _form(raw) if raw else {}, self._remote_addr(environ))
            return handler(self, call)
        except Fallthrough:
            return None
        except Exception:
            log.exception("fast path: %s handed on after an error", environ.get("PATH_INFO"))
            return None
        finally:
            _end_session()

    def _log(self, environ: dict[str, Any], answer: Answer, rid: str, seconds: float) -> None:
        method = environ["REQUEST_METHOD"]
        path = environ["PATH_INFO"]
        access_log.info(
            "%s %s %s",
            method,
            path,
            answer.status_code,
            extra={
                "request_id": rid,
                "method": method,
                "path": path,
                "status": answer.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "endpoint": answer.endpoint,
                "client_id": answer.client_id,
                "remote_addr": self._remote_addr(environ),
            },
        )
        metrics = current_metrics()
        if metrics is not None:
            metrics.latency.labels(answer.endpoint, method).observe(seconds)

    def _remote_addr(self, environ: dict[str, Any]) -> str | None:
        if self.trust_proxy and environ.get("HTTP_X_FORWARDED_FOR"):
            # As ProxyFix(x_for=1) reads it: the address the nearest proxy appended.
            return str(environ["HTTP_X_FORWARDED_FOR"]).split(",")[-1].strip()
        found = environ.get("REMOTE_ADDR")
        return str(found) if found else None

    def _is_tls(self, environ: dict[str, Any]) -> bool:
        if self.issuer_is_https or environ.get("wsgi.url_scheme") == "https":
            return True
        if self.trust_proxy:
            forwarded = str(environ.get("HTTP_X_FORWARDED_PROTO", ""))
            return forwarded.split(",")[-1].strip().lower() == "https"
        return False


def _end_session() -> None:
    """Give the request's connection back; a dead one (database restarted) must not
    turn the answer, or the hand-over to the application, into a 500."""
    try:
        db.session.remove()
    except Exception:
        log.warning("fast path: the database session could not be closed", exc_info=True)


def fast_path_of(app: Flask) -> FastPath | None:
    """The fast path in front of ``app`` (None when it is not installed)."""
    layer: Any = app.wsgi_app
    while layer is not None:
        if isinstance(layer, FastPath):
            return layer
        layer = getattr(layer, "wsgi_app", None)
    return None


def init_app(app: Flask) -> None:
    """Put the fast path in front of the application."""
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
