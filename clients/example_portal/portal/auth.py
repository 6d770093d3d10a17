"""Signing in and out: code flow with PKCE, RP-initiated logout, back-channel logout."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from portal.context import portal
from portal.sessions import SignIn
from portal.tokens import TokenError
from portal.tokens import validate_logout_token

bp = Blueprint("auth", __name__)
log = logging.getLogger("portal.auth")


def current_sign_in() -> SignIn | None:
    """The patron signed in with this browser, or None."""
    return portal().store.get(session.get("sign_in"))


def fetch_jwks(force: bool) -> dict[str, Any]:
    """The IdP's published keys (cached by Authlib; ``force`` fetches again)."""
    jwks: dict[str, Any] = portal().library.fetch_jwk_set(force=force)
    return jwks


def _unavailable() -> tuple[str, int]:
    return render_template("error.html", message="図書館のログインサービスに接続できません。"), 502


@bp.route("/login")
def login() -> Any:
    """Send the browser to the IdP (authorization code flow, PKCE S256, state, nonce)."""
    try:
        return portal().library.authorize_redirect(url_for("auth.callback", _external=True))
    except requests.RequestException:
        log.warning("the IdP's discovery document could not be fetched")
        return _unavailable()


@bp.route("/auth/callback")
def callback() -> Any:
    """The IdP sends the browser back here with a code (or an error)."""
    library = portal().library
    if "error" in request.args:
        # The patron gave up (access_denied) or could not sign in.
        return render_template("error.html", message="ログインできませんでした。"), 400
    try:
        # Checks state, redeems the code with the PKCE verifier and the client secret,
        # and validates the ID token (signature, iss, aud, exp, nonce).
        token = library.authorize_access_token()
        userinfo = library.userinfo(token=token)
    except OAuthError as exc:
        log.info("sign-in refused: %s", exc.error)
        return render_template("error.html", message="ログインできませんでした。"), 400
    except requests.RequestException:
        return _unavailable()
    claims = token["userinfo"]
    if userinfo.get("sub") != claims["sub"]:
        # OIDC Core §5.3.2: the userinfo sub MUST match the ID token's.
        return render_template("error.html", message="ログインできませんでした。"), 400
    sign_in = SignIn(
        sub=claims["sub"],
        sid=claims.get("sid"),
        name=userinfo.get("name"),
        id_token=token["id_token"],
        access_token=token["access_token"],
        access_expires_at=float(token.get("expires_at") or time.time() + 300),
    )
    # A fresh cookie for the new sign-in (no session fixation).
    session.clear()
    session["sign_in"] = portal().store.add(sign_in)
    return redirect(url_for("home.index"))


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End the portal sign-in, then the IdP session (RP-Initiated Logout 1.0)."""
    sign_in = portal().store.remove(session.get("sign_in"))
    session.clear()
    if sign_in is None:
        return redirect(url_for("home.index"))
    try:
        # Goes to end_session_endpoint with id_token_hint, post_logout_redirect_uri and
        # a state that the start page checks on the way back.
        return portal().library.logout_redirect(
            post_logout_redirect_uri=url_for("home.index", _external=True),
            id_token_hint=sign_in.id_token,
        )
    except requests.RequestException:
        return _unavailable()


@bp.route("/auth/backchannel-logout", methods=["POST"])
def backchannel_logout() -> Response:
    """Receive a Logout Token from the IdP (Back-Channel Logout 1.0 §2.5–2.8)."""
    token = request.form.get("logout_token", "")
    try:
        claims = validate_logout_token(
            token, fetch_jwks, issuer=portal().issuer, client_id=portal().client_id
        )
        if not portal().store.first_use_of(claims["jti"], float(claims["exp"])):
            raise TokenError("logout token was already used (jti)")
    except TokenError as exc:
        log.info("back-channel logout refused: %s", exc)
        # §2.8: "If the logout request was invalid … the RP MUST respond with 400".
        response = jsonify(error="invalid_request", error_description=str(exc))
        response.status_code = 400
    except requests.RequestException:
        # The keys could not be fetched: the IdP retries on 5xx.
        response = jsonify(error="temporarily_unavailable")
        response.status_code = 503
    else:
        ended = portal().store.remove_matching(sid=claims.get("sid"), sub=claims.get("sub"))
        log.info("back-channel logout ended %d sign-in(s)", ended)
        response = Response(status=200)
    # §2.8: "The response SHOULD include Cache-Control: no-store".
    response.headers["Cache-Control"] = "no-store"
    return response
