"""The patron's account page (SPEC §4): card, e-mail addresses, notifications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.i18n import current_locale
from idp.models.patron import Patron
from idp.services.accounts.self_service import PasswordChangeError
from idp.services.accounts.self_service import clean_email
from idp.services.accounts.self_service import mail_failed_message
from idp.services.accounts.self_service import send_account_mail
from idp.services.accounts.self_service import update_account
from idp.services.accounts.self_service import verify_email
from idp.services.container import container
from idp.services.signing import TokenError
from idp.views.support.account_forms import AccountForm
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron
from idp.views.support.errors import error_page

bp = Blueprint("account", __name__)

BAD_ADDRESS = _l("This is not an e-mail address.")
STATUS_NAMES = {
    "active": _l("Active"),
    "suspended": _l("Suspended"),
    "lost": _l("Reported lost"),
    "withdrawn": _l("Withdrawn"),
}


@bp.route("/account", methods=["GET", "POST"])
def index() -> Any:
    """Show the account, and save the e-mail addresses and notification choices."""
    patron = current_patron()
    if patron is None:
        return redirect(url_for("login.login", next=url_for("account.index")))
    form = AccountForm()
    status = 200
    headers: dict[str, str] = {}
    if request.method == "GET":
        form.email.data = patron.email or ""
        form.email2.data = patron.email2 or ""
        form.notify_due_date.data = patron.notify_due_date
        form.notify_reservation.data = patron.notify_reservation
    elif form.validate_on_submit():
        addresses = []
        for field in (form.email, form.email2):
            try:
                addresses.append(clean_email(field.data))
            except ValueError:
                field.errors.append(str(BAD_ADDRESS))
        if not form.email.errors and not form.email2.errors:
            try:
                result = update_account(
                    patron,
                    email=addresses[0],
                    email2=addresses[1],
                    notify_due_date=bool(form.notify_due_date.data),
                    notify_reservation=bool(form.notify_reservation.data),
                    locale=current_locale(),
                    send_confirmation=bool(form.send_confirmation.data),
                    current_password=form.current_password.data or "",
                    **caller_facts(),
                )
            except PasswordChangeError as exc:
                form.current_password.errors.append(str(exc.message))
                if exc.retry_after:
                    headers["Retry-After"] = str(exc.retry_after)
                return _page(patron, form, exc.status, headers)
            # Committed before the mail goes out: no mail for a change that was not kept.
            db.session.commit()
            sent = send_account_mail(result)
            flash(_("Your patron information has been updated."))
            for address in sent.mailed:
                flash(_("A confirmation mail has been sent to %(address)s.", address=address))
            if sent.mail_failed:
                flash(mail_failed_message(), "error")
            return redirect(url_for("account.index"))
        status = 400
    else:
        status = 400
    return _page(patron, form, status, headers)


def _page(patron: Patron, form: AccountForm, status: int, headers: dict[str, str]) -> Any:
    form.current_password.data = ""
    body = render_template(
        "account/index.html",
        patron=patron,
        form=form,
        status_name=STATUS_NAMES.get(patron.status, patron.status),
        timezone=container().settings.site.timezone,
    )
    return body, status, headers


@bp.route("/account/verify-email/<token>")
def verify_email_link(token: str) -> Any:
    """The link in the confirmation mail: the address counts as confirmed from now on."""
    try:
        verify_email(token)
    except TokenError:
        return error_page(
            400,
            _("This confirmation link is not valid any more. Please register the address again."),
        )
    return render_template("account/email_verified.html")
