"""Enrolment through the one-time link: choose a password, then a passkey or TOTP app.

The link works until the second factor is enrolled (then it is used up) or until it
expires. The recovery codes are shown once, in the answer to the last step.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for
from flask_babel import gettext as _

from idp.extensions import db
from idp.models.staff import StaffMember
from idp.services.container import container
from idp.services.staff import passkeys
from idp.services.staff import totp
from idp.services.staff.accounts import finish_enrolment
from idp.services.staff.accounts import set_password
from idp.services.staff.accounts import staff_for_enrolment
from idp.services.staff.actor import Actor
from idp.services.staff.password_rules import RULE_MESSAGES
from idp.services.staff.password_rules import check_staff_password
from idp.services.webauthn_rp import base64url_to_bytes
from idp.services.webauthn_rp import bytes_to_base64url
from idp.views.staff.access import public
from idp.views.staff.forms import PasskeyForm
from idp.views.staff.forms import PasswordForm
from idp.views.staff.forms import TotpForm

bp = Blueprint("enrol", __name__, url_prefix="/enrol")


def _gone() -> Any:
    body = render_template("staff/enrol_gone.html")
    return body, 404


def _enrolling(token: str) -> StaffMember | None:
    """The account of a live link whose password was chosen in this browser."""
    staff = staff_for_enrolment(token)
    if staff is None or staff.password_hash is None or session.get("enrol") != staff.id:
        return None
    return staff


@bp.route("/<token>", methods=["GET", "POST"])
@public
def password(token: str) -> Any:
    """Step 1: choose the staff password."""
    staff = staff_for_enrolment(token)
    if staff is None:
        return _gone()
    form = PasswordForm()
    message = None
    status = 200
    if form.validate_on_submit():
        broken = check_staff_password(
            form.password.data or "", form.password_confirm.data or "", username=staff.username
        )
        if broken is None:
            set_password(staff, form.password.data or "")
            db.session.commit()
            session.renew()  # type: ignore[attr-defined]
            session["enrol"] = staff.id
            return redirect(url_for("staff.enrol.factor", token=token))
        message = str(RULE_MESSAGES[broken])
        status = 400
    elif form.is_submitted():
        status = 400
    form.password.data = form.password_confirm.data = ""
    body = render_template("staff/enrol_password.html", form=form, staff=staff, message=message)
    return body, status


def _factor_page(
    token: str, staff: StaffMember, message: str | None = None, status: int = 200
) -> Any:
    options = None
    if passkeys.is_available():
        options, challenge = passkeys.registration_options(staff)
        session["passkey_challenge"] = bytes_to_base64url(challenge)
    stored = session.get("totp_pending")
    secret = totp.decrypt_secret(stored) if isinstance(stored, str) else None
    if secret is None:
        secret = totp.new_secret()
        session["totp_pending"] = totp.encrypt_secret(secret)
    uri = totp.provisioning_uri(secret, staff.username)
    import segno

    qr = segno.make(uri, error="m").svg_inline(
        scale=4, title=_("QR code for the authenticator app")
    )
    body = render_template(
        "staff/enrol_factor.html",
        token=token,
        staff=staff,
        passkey_options=options,
        passkey_form=PasskeyForm(formdata=None),
        totp_form=TotpForm(formdata=None),
        totp_secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        totp_qr=qr,
        message=message,
    )
    return body, status


@bp.route("/<token>/factor", methods=["GET"])
@public
def factor(token: str) -> Any:
    """Step 2: enrol a passkey, or an authenticator app (TOTP)."""
    staff = _enrolling(token)
    if staff is None:
        return _gone()
    return _factor_page(token, staff)


def _done(staff: StaffMember, method: str) -> Any:
    finish_enrolment(staff)
    codes = totp.new_recovery_codes(staff)
    Actor(name=staff.username, channel="console", role=staff.role).audit(
        "staff.enrolled", method=method
    )
    db.session.commit()
    for key in ("enrol", "totp_pending", "passkey_challenge"):
        session.pop(key, None)
    return render_template("staff/recovery_codes.html", codes=codes, staff=staff)


@bp.route("/<token>/totp", methods=["POST"])
@public
def enrol_totp(token: str) -> Any:
    """Confirm the authenticator app with its first code."""
    staff = _enrolling(token)
    if staff is None:
        return _gone()
    form = TotpForm()
    stored = session.get("totp_pending")
    secret = totp.decrypt_secret(stored) if isinstance(stored, str) else None
    if not form.validate_on_submit() or secret is None:
        return _factor_page(token, staff, _("Enter the code."), 400)
    step = totp.matching_step(secret, form.code.data or "", container().now())
    if step is None:
        return _factor_page(
            token, staff, _("The code is not right. Check the app's clock and try again."), 400
        )
    staff.totp_secret = totp.encrypt_secret(secret)
    staff.totp_last_step = step
    return _done(staff, "totp")


@bp.route("/<token>/passkey", methods=["POST"])
@public
def enrol_passkey(token: str) -> Any:
    """Keep the passkey the browser just made."""
    staff = _enrolling(token)
    if staff is None:
        return _gone()
    form = PasskeyForm()
    challenge = session.pop("passkey_challenge", None)
    if not form.validate_on_submit() or not challenge:
        return _factor_page(token, staff, _("The passkey could not be registered."), 400)
    try:
        passkeys.finish_registration(
            staff, form.credential.data or "", base64url_to_bytes(challenge), container().now()
        )
    except passkeys.PasskeyError:
        return _factor_page(token, staff, _("The passkey could not be registered."), 400)
    return _done(staff, "passkey")
