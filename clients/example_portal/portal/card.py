"""The library card: the IdP's signed barcode claim, checked and drawn as a barcode."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import url_for

from portal.auth import current_sign_in
from portal.auth import fetch_jwks
from portal.barcodes import render_svg
from portal.context import portal
from portal.sessions import SignIn
from portal.tokens import TokenError
from portal.tokens import validate_barcode_claim

bp = Blueprint("card", __name__)
log = logging.getLogger("portal.card")

#: Discovery metadata name of the IdP's barcode claim endpoint.
BARCODE_ENDPOINT = "library_card_barcode_endpoint"
#: The IdP's ``reason`` when it refuses the claim (HTTP 403), in the patron's words.
REFUSALS = {
    "suspended": "この貸出カードは利用停止中です。図書館カウンターにお問い合わせください。",
    "lost": "この貸出カードは紛失の届出がされています。図書館カウンターにお問い合わせください。",
    "withdrawn": "この貸出カードは利用を終了しています。",
    "card_expired": "貸出カードの有効期限が切れています。図書館カウンターで更新してください。",
    "temporary_password": "仮パスワードを変更してからご利用ください。",
}


class NeedsSignIn(Exception):
    """The access token expired or was refused: sign in again (usually silently)."""


class CardUnavailable(Exception):
    """The card cannot be shown; ``args[0]`` is the text for the patron."""


@dataclass(frozen=True)
class Card:
    """What the card page shows, from a verified claim."""

    card_number: str
    barcode: str
    symbology: str
    svg: str
    #: Seconds until this code is replaced (the claim's ``exp``).
    expires_in: int


def fetch_card(sign_in: SignIn) -> Card:
    """Fetch the signed barcode claim with the patron's access token and verify it.

    :raises NeedsSignIn: the access token is expired or refused.
    :raises CardUnavailable: the IdP refused (suspended, lost, expired card …) or failed.
    """
    library = portal().library
    try:
        endpoint = library.load_server_metadata().get(BARCODE_ENDPOINT)
    except requests.RequestException as exc:
        raise CardUnavailable("図書館のログインサービスに接続できません。") from exc
    if not endpoint:
        raise CardUnavailable("この図書館のIdPは貸出カードの表示に対応していません。")
    if sign_in.access_expires_at <= time.time() + 5:
        raise NeedsSignIn
    try:
        response = requests.get(
            endpoint,
            headers={"Authorization": f"Bearer {sign_in.access_token}"},
            timeout=current_app.config["PORTAL_HTTP_TIMEOUT"],
        )
    except requests.RequestException as exc:
        raise CardUnavailable("図書館のログインサービスに接続できません。") from exc
    if response.status_code == 401:
        raise NeedsSignIn
    if response.status_code == 403 and _is_json(response):
        # Suspended, lost or expired cards: the IdP says why.
        reason = str(response.json().get("reason", ""))
        raise CardUnavailable(REFUSALS.get(reason, "貸出カードを表示できません。"))
    if response.status_code != 200:
        log.warning("barcode endpoint answered HTTP %d", response.status_code)
        raise CardUnavailable("貸出カードを表示できません。しばらくしてからお試しください。")
    try:
        claims = validate_barcode_claim(
            response.text.strip(),
            fetch_jwks,
            issuer=portal().issuer,
            client_id=portal().client_id,
            subject=sign_in.sub,
        )
    except TokenError as exc:
        log.warning("barcode claim refused: %s", exc)
        raise CardUnavailable(
            "貸出カードを表示できません。しばらくしてからお試しください。"
        ) from exc
    return Card(
        card_number=claims["card_number"],
        barcode=claims["barcode"],
        symbology=claims["symbology"],
        svg=render_svg(claims["barcode"], claims["symbology"]),
        expires_in=max(0, int(claims["exp"]) - int(time.time())),
    )


def _is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("application/json")


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/card")
def card() -> Any:
    """The card page; a static script fetches the next code when this one expires."""
    sign_in = current_sign_in()
    if sign_in is None:
        return redirect(url_for("auth.login"))
    try:
        shown: Card | None = fetch_card(sign_in)
        problem = None
    except NeedsSignIn:
        return redirect(url_for("auth.login"))
    except CardUnavailable as exc:
        shown, problem = None, str(exc)
    page = render_template("card.html", sign_in=sign_in, card=shown, problem=problem)
    return _no_store(current_app.make_response(page))


@bp.route("/card/barcode.json")
def barcode_json() -> Any:
    """The next code for the card page's script."""
    sign_in = current_sign_in()
    if sign_in is None:
        return _no_store(jsonify(error="login_required")), 401
    try:
        shown = fetch_card(sign_in)
    except NeedsSignIn:
        return _no_store(jsonify(error="login_required")), 401
    except CardUnavailable as exc:
        return _no_store(jsonify(error="card_unavailable", message=str(exc))), 503
    return _no_store(
        jsonify(
            card_number=shown.card_number,
            barcode=shown.barcode,
            symbology=shown.symbology,
            svg=shown.svg,
            expires_in=shown.expires_in,
        )
    )
