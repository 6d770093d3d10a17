"""Password pages (SPEC §4): the change form (forced or from the account) and re-issue.

A correct temporary-password login at a ``change`` client does not sign the patron in:
it leaves a short-lived "pending change" marker in the server-side session, bound to
that patron and to the waiting authorization request (``rid``). After the change the
patron logs in again with the new password, and the original request continues.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.accounts.reissue import REISSUE_MAX_AGE
from idp.services.accounts.reissue import ReissueGrant
from idp.services.accounts.reissue import link_digest
from idp.services.accounts.reissue import patron_for_grant
from idp.services.accounts.reissue import redeem_link
from idp.services.accounts.reissue import reissue_password
from idp.services.accounts.reissue import request_reissue
from idp.services.accounts.self_service import PasswordChangeError
from idp.services.accounts.self_service import change_password
from idp.services.cards.numbers import normalize_card_number
from idp.services.container import container
from idp.services.signin import Slot
from idp.services.signin import limiter
from idp.services.signing import TokenError
from idp.views.support.account_forms import NewPasswordForm
from idp.views.support.account_forms import PasswordChangeForm
from idp.views.support.account_forms import ReissueForm
from idp.views.support.caller import caller_address
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.errors import error_page

bp = Blueprint("password", __name__)

#: Seconds the pending-change marker lives after a temporary-password login.
CHANGE_WINDOW = 600
CHANGED_LOGIN_AGAIN = _l(
    "Your password change has been accepted. Please log in again with your new password."
)
#: Session key of an opened re-issue link's state (:class:`ReissueGrant`).
REISSUE_STATE = "password_reissue"
LINK_UNUSABLE = _l("This link has expired or has already been used. Please ask for a new one.")


def allow_forced_change(patron_id: int, rid: str | None, next_url: str | None) -> None:
    """Let this browser reach the change form for a patron whose temporary password was
    just verified (no second login), bound to the waiting request ``rid``."""
    if next_url == url_for("password.change"):
        next_url = None
    session["password_change"] = {
        "patron": patron_id,
        "until": int(container().now().timestamp()) + CHANGE_WINDOW,
        "rid": rid or "",
        "next": next_url or "",
    }


def start_forced_change(patron_id: int, rid: str | None, next_url: str | None) -> Any:
    """Send a patron who logged in with a temporary password to the change form."""
    allow_forced_change(patron_id, rid, next_url)
    return redirect(url_for("password.change"))


def _forced() -> tuple[Patron, dict[str, Any]] | None:
    marker = session.get("password_change")
    if not isinstance(marker, dict):
        return None
    patron = db.session.get(Patron, marker.get("patron"))
    expired = int(marker.get("until", 0)) < container().now().timestamp()
    if expired or patron is None or not patron.is_temporary_password:
        session.pop("password_change", None)
        return None
    return patron, marker


def _typed_new_password(form: PasswordChangeForm | NewPasswordForm) -> tuple[str, str]:
    """The new password and its confirmation as typed (the change and re-issue forms)."""
    return form.new_password.data or "", form.new_password_confirm.data or ""


@bp.route("/password/change", methods=["GET", "POST"])
def change() -> Any:
    """Change the password: forced after a temporary-password login, or from the account."""
    forced = _forced()
    patron = forced[0] if forced else current_patron()
    if patron is None:
        return redirect(url_for("login.login", next=url_for("account.index")))
    form = PasswordChangeForm()
    message = None
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            change_password(
                patron,
                form.current_password.data or "",
                *_typed_new_password(form),
                keep_sid=None if forced else session.sid,  # type: ignore[attr-defined]
                **caller_facts(),
            )
        except PasswordChangeError as exc:
            message, status = str(exc.message), exc.status
            if exc.retry_after:
                headers["Retry-After"] = str(exc.retry_after)
        else:
            if forced:
                marker = forced[1]
                session.pop("password_change", None)
                session["login_notice"] = "password_changed"
                return redirect(
                    url_for("login.login", rid=marker["rid"] or None, next=marker["next"] or None)
                )
            flash(_("Your password has been changed."))
            return redirect(url_for("account.index"))
    elif request.method == "POST":
        status = 400
    for field in (form.current_password, form.new_password, form.new_password_confirm):
        field.data = ""
    if forced:
        cancel_url = url_for("login.login", rid=forced[1]["rid"] or None)
    else:
        cancel_url = url_for("account.index")
    body = render_template(
        "password/change.html",
        form=form,
        forced=forced is not None,
        message=message,
        cancel_url=cancel_url,
    )
    return body, status, headers


@bp.route("/password/reissue", methods=["GET", "POST"])
def reissue() -> Any:
    """Ask for a re-issue link by card number and registered e-mail address."""
    form = ReissueForm()
    gate = limiter()
    address = caller_address() or "-"
    if request.method == "POST" and gate.hit(
        [Slot("reissue_ip", address), Slot("reissue_ip_hour", address)]
    ):
        return error_page(429, _("Too many attempts. Please wait a while and try again."))
    if form.validate_on_submit():
        card = normalize_card_number(form.card_number.data or "")
        request_reissue(
            card,
            form.email.data or "",
            # Past the per-card limit the same work is done and the same page shown.
            deliver=gate.hit([Slot("reissue_card", card)]) == 0,
            ip=caller_address(),
        )
        return render_template("password/reissue_sent.html", minutes=REISSUE_MAX_AGE // 60)
    status = 400 if request.method == "POST" else 200
    return render_template("password/reissue.html", form=form), status


@bp.route("/password/reissue/<token>", methods=["GET", "POST"])
def reissue_link(token: str) -> Any:
    """Open a re-issue link: spend it, keep a short state in the session, show the form.

    The link works once, at its first opening (a copy from a log or a history is
    useless); opening it again in the same browser finds the same form.
    """
    known = ReissueGrant.from_dict(session.get(REISSUE_STATE))
    if known is None or known.link != link_digest(token):
        try:
            session[REISSUE_STATE] = redeem_link(token).as_dict()
        except TokenError:
            return error_page(400, str(LINK_UNUSABLE))
    # The form lives at a path without the token (nothing left to leak).
    return redirect(url_for("password.reissue_form"), 303)


@bp.route("/password/new", methods=["GET", "POST"])
def reissue_form() -> Any:
    """Choose a new password after opening a re-issue link (once, within 15 minutes)."""
    grant = ReissueGrant.from_dict(session.get(REISSUE_STATE))
    try:
        if grant is None:
            raise TokenError("password.reissue")
        patron_for_grant(grant)
    except TokenError:
        session.pop(REISSUE_STATE, None)
        return error_page(400, str(LINK_UNUSABLE))
    form = NewPasswordForm()
    message = None
    status = 200
    if form.validate_on_submit():
        try:
            reissue_password(
                grant,
                *_typed_new_password(form),
                ip=caller_address(),
            )
        except TokenError:
            session.pop(REISSUE_STATE, None)
            return error_page(400, str(LINK_UNUSABLE))
        except PasswordChangeError as exc:
            message, status = str(exc.message), 400
        else:
            session.pop(REISSUE_STATE, None)
            return render_template("password/reissue_done.html")
    elif request.method == "POST":
        status = 400
    form.new_password.data = form.new_password_confirm.data = ""
    return render_template("password/reissue_link.html", form=form, message=message), status
