"""Staff sign-in: username and password, then a passkey, a TOTP code or a recovery code."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_babel import gettext as _

from idp.extensions import db
from idp.models.staff import StaffMember
from idp.services.container import container
from idp.services.staff import passkeys
from idp.services.staff import totp
from idp.services.staff.auth import StaffSignInOutcome
from idp.services.staff.auth import check_second_factor
from idp.services.staff.auth import check_staff_password
from idp.services.webauthn_rp import base64url_to_bytes
from idp.services.webauthn_rp import bytes_to_base64url
from idp.views.staff.access import current_actor
from idp.views.staff.access import current_staff
from idp.views.staff.access import public
from idp.views.staff.forms import PasskeyForm
from idp.views.staff.forms import RecoveryForm
from idp.views.staff.forms import SignInForm
from idp.views.staff.forms import TotpForm

bp = Blueprint("auth", __name__)

#: Seconds between the password and the second factor before starting again.
PENDING_SECONDS = 300


def _safe_next(target: str | None) -> str:
    # Only console paths: anything else would be an open redirect.
    if target and target.startswith("/staff/") and not target.startswith("/staff//"):
        return target
    return url_for("staff.patrons.index")


def _meta() -> dict[str, Any]:
    return {"source_ip": request.remote_addr, "user_agent": request.user_agent.string}


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    """The first factor: username and password."""
    if current_staff() is not None:
        return redirect(_safe_next(request.args.get("next")))
    form = SignInForm()
    message = None
    status = 200
    headers: dict[str, str] = {}
    if request.method == "GET" and request.args.get("expired"):
        message = _("Your session ended after a period without activity. Please sign in again.")
    if form.validate_on_submit():
        result = check_staff_password(form.username.data or "", form.password.data or "", **_meta())
        if result.outcome is StaffSignInOutcome.OK and result.staff is not None:
            session.renew()  # type: ignore[attr-defined]
            session["pending"] = {
                "id": result.staff.id,
                "at": int(container().now().timestamp()),
                "next": _safe_next(request.args.get("next")),
            }
            return redirect(url_for("staff.auth.second_factor"))
        if result.outcome is StaffSignInOutcome.THROTTLED:
            minutes = max(1, math.ceil(result.retry_after / 60))
            message = _("Too many attempts. Please wait %(minutes)s minutes.", minutes=minutes)
            status, headers["Retry-After"] = 429, str(result.retry_after)
        elif result.outcome is StaffSignInOutcome.LOCKED:
            message = _(
                "This account is locked after too many failed attempts. Ask an administrator."
            )
            status = 403
        elif result.outcome is StaffSignInOutcome.UNAVAILABLE:
            message = _("This account is disabled or not enrolled yet. Ask an administrator.")
            status = 403
        else:
            message = _("The username or password is incorrect.")
            status = 401
    elif request.method == "POST":
        status = 400
    form.password.data = ""
    return render_template("staff/login.html", form=form, message=message), status, headers


def _pending_staff() -> StaffMember | None:
    pending = session.get("pending")
    if not isinstance(pending, dict):
        return None
    now = int(container().now().timestamp())
    if now - int(pending.get("at", 0)) > PENDING_SECONDS:
        session.pop("pending", None)
        return None
    staff = db.session.get(StaffMember, int(pending.get("id", 0)))
    if staff is None or not staff.is_active or staff.locked_at is not None:
        return None
    return staff


def _second_page(staff: StaffMember, message: str | None = None, status: int = 200) -> Any:
    options = None
    if staff.credentials and passkeys.is_available():
        options, challenge = passkeys.authentication_options(staff)
        session["passkey_challenge"] = bytes_to_base64url(challenge)
    body = render_template(
        "staff/second_factor.html",
        staff=staff,
        passkey_options=options,
        passkey_form=PasskeyForm(formdata=None),
        totp_form=TotpForm(formdata=None),
        recovery_form=RecoveryForm(formdata=None),
        message=message,
    )
    return body, status


@bp.route("/login/second", methods=["GET"])
@public
def second_factor() -> Any:
    """The second factor's page: passkey, authenticator code, or recovery code."""
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("staff.auth.login"))
    return _second_page(staff)


def _second(staff: StaffMember, verify: Callable[[], bool], method: str) -> Any:
    """Check a second-factor answer through the sign-in core; sign in when right."""
    result = check_second_factor(staff, verify, method=method, **_meta())
    if result.outcome is StaffSignInOutcome.OK:
        pending = session.pop("pending", None) or {}
        session.pop("passkey_challenge", None)
        session.sign_in(staff.id)  # type: ignore[attr-defined]
        return redirect(_safe_next(pending.get("next")))
    if result.outcome is StaffSignInOutcome.THROTTLED:
        minutes = max(1, math.ceil(result.retry_after / 60))
        body, _status = _second_page(
            staff, _("Too many attempts. Please wait %(minutes)s minutes.", minutes=minutes)
        )
        return body, 429, {"Retry-After": str(result.retry_after)}
    if result.outcome is StaffSignInOutcome.LOCKED:
        session.pop("pending", None)
        message = _("This account is locked after too many failed attempts. Ask an administrator.")
        form = SignInForm(formdata=None)
        return render_template("staff/login.html", form=form, message=message), 403
    return _second_page(staff, _("That did not work. Please try again."), 401)


@bp.route("/login/totp", methods=["POST"])
@public
def login_totp() -> Any:
    """Check a code from the authenticator app."""
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("staff.auth.login"))
    form = TotpForm()
    if not form.validate_on_submit():
        return _second_page(staff, _("Enter the code."), 400)
    code = form.code.data or ""
    return _second(staff, lambda: totp.verify_totp(staff, code, container().now()), "totp")


@bp.route("/login/recovery", methods=["POST"])
@public
def login_recovery() -> Any:
    """Spend a one-time recovery code instead of the second factor."""
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("staff.auth.login"))
    form = RecoveryForm()
    if not form.validate_on_submit():
        return _second_page(staff, _("Enter a recovery code."), 400)
    code = form.recovery_code.data or ""
    return _second(
        staff, lambda: totp.use_recovery_code(staff, code, container().now()), "recovery_code"
    )


@bp.route("/login/passkey", methods=["POST"])
@public
def login_passkey() -> Any:
    """Check the browser's passkey answer to this session's challenge (used once)."""
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("staff.auth.login"))
    form = PasskeyForm()
    challenge = session.pop("passkey_challenge", None)
    if not form.validate_on_submit() or not challenge:
        return _second_page(staff, _("The passkey could not be used. Please try again."), 400)
    answer = form.credential.data or ""

    def verify() -> bool:
        try:
            passkeys.verify_assertion(
                staff, answer, base64url_to_bytes(challenge), container().now()
            )
        except passkeys.PasskeyError:
            return False
        return True

    return _second(staff, verify, "passkey")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Sign out of the console (the session record is deleted)."""
    staff = current_staff()
    if staff is not None:
        current_actor().audit("staff.logout")
        db.session.commit()
    session.sign_out()  # type: ignore[attr-defined]
    return redirect(url_for("staff.auth.login"))
