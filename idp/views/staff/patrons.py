"""The counter's patron screens: find, show, issue, reset, renew, set status, unlock.

Every action goes through :mod:`idp.services.staff.patron_actions` (the same rules and audit as the
``idp patrons`` commands) under the signed-in staff member. A new temporary password is
shown once, on the print-ready notice that answers the form (see :mod:`.once`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_babel import gettext as _

from idp.extensions import db
from idp.models.patron import Patron
from idp.services.accounts.patrons import PatronError
from idp.services.cards.notice import NoticeEntry
from idp.services.cards.notice import render_notices
from idp.services.staff import patron_actions
from idp.services.staff.lookup import patron_history
from idp.services.staff.lookup import search_patrons
from idp.services.staff.roles import Permission
from idp.views.staff.access import current_actor
from idp.views.staff.access import requires
from idp.views.staff.forms import FindForm
from idp.views.staff.forms import IssueForm
from idp.views.staff.forms import ReasonForm
from idp.views.staff.forms import RenewForm
from idp.views.staff.forms import ResetForm
from idp.views.staff.forms import SearchForm
from idp.views.staff.forms import StatusForm
from idp.views.staff.once import new_once
from idp.views.staff.once import use_once
from idp.views.support.headers import CSP

bp = Blueprint("patrons", __name__)

_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _patron(patron_id: int) -> Patron:
    patron = db.session.get(Patron, patron_id)
    if patron is None:
        abort(404)
    return patron


@bp.route("/")
@requires(Permission.FIND_BY_CARD)
def index() -> Any:
    """The counter's start page: find a card, search (supervisors), issue, scan."""
    return render_template(
        "staff/index.html", find_form=FindForm(formdata=None), search_form=SearchForm(formdata=None)
    )


@bp.route("/find", methods=["POST"])
@requires(Permission.FIND_BY_CARD)
def find() -> Any:
    """Open a patron by card number (typed or scanned from the plastic card)."""
    form = FindForm()
    status = 400
    message = _("Enter a library card number.")
    if form.validate_on_submit():
        try:
            patron = patron_actions.patron_by_card(form.card_number.data or "")
        except PatronError:
            status, message = 404, _("No patron has this library card number.")
        else:
            return redirect(url_for("staff.patrons.show", patron_id=patron.id))
    body = render_template(
        "staff/index.html", find_form=form, search_form=SearchForm(formdata=None), message=message
    )
    return body, status


@bp.route("/search", methods=["POST"])
@requires(Permission.SEARCH)
def search() -> Any:
    """Find patrons by name or e-mail address (supervisors)."""
    form = SearchForm()
    results = search_patrons(form.query.data or "") if form.validate_on_submit() else []
    if form.validate():
        current_actor().audit("patron.searched", results=len(results))
    return render_template(
        "staff/index.html",
        find_form=FindForm(formdata=None),
        search_form=form,
        results=results,
        searched=True,
    )


@bp.route("/patrons/<int:patron_id>")
@requires(Permission.VIEW_PATRON)
def show(patron_id: int) -> Any:
    """The patron page: facts, state, recent history — never a password, hash or token."""
    patron = _patron(patron_id)
    facts = patron_actions.describe(patron.card_number, actor=current_actor())
    return render_template(
        "staff/patron.html",
        patron=patron,
        facts=facts,
        history=patron_history(patron.id),
        renew_form=RenewForm(formdata=None),
        status_form=StatusForm(formdata=None, status=patron.status),
        unlock_form=ReasonForm(formdata=None),
    )


def notice_response(patron: Patron, temporary: str) -> Response:
    """The print-ready notice (the same as ``--notice``), with a CSP that allows its style.

    The notice embeds its style sheet (it is also a file printed offline), so this page
    names that style by its hash instead of allowing inline style in general.
    """
    html = render_notices(
        [NoticeEntry.for_patron(patron, temporary)],
        lang=patron.locale if patron.locale in {"ja", "en"} else "ja",
        back_url=url_for("staff.patrons.show", patron_id=patron.id),
    )
    response = Response(html, mimetype="text/html")
    styles = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _STYLE.findall(html)
    )
    response.headers["Content-Security-Policy"] = CSP.replace(
        "style-src 'self'", f"style-src 'self' {styles}"
    )
    return response


def _shown_already() -> Any:
    return render_template("staff/shown_once.html"), 409


@bp.route("/patrons/new", methods=["GET", "POST"])
@requires(Permission.ISSUE)
def issue() -> Any:
    """Issue a card: the temporary password appears once, on the notice."""
    form = IssueForm()
    message = None
    status = 200
    if form.validate_on_submit():
        if not use_once(form.nonce.data):
            return _shown_already()
        try:
            patron, temporary = patron_actions.issue_card(
                form.card_number.data or "",
                form.expires_on.data,
                name=form.name.data or None,
                email=form.email.data or None,
                actor=current_actor(),
                reason=form.reason.data,
            )
        except PatronError as exc:
            message = _("The card cannot be issued: %(why)s", why=_issue_error(exc))
            status = 400
        else:
            return notice_response(patron, temporary)
    elif form.is_submitted():
        status = 400
    form.nonce.data = new_once()
    return render_template("staff/issue.html", form=form, message=message), status


def _issue_error(exc: PatronError) -> str:
    text = str(exc)
    if "already issued" in text:
        return str(_("this card number is already issued."))
    if "pattern" in text:
        return str(_("this is not a valid library card number."))
    return text


@bp.route("/patrons/<int:patron_id>/reset", methods=["GET", "POST"])
@requires(Permission.RESET_PASSWORD)
def reset(patron_id: int) -> Any:
    """Reset the password at the counter: a new temporary one, on a notice, once."""
    patron = _patron(patron_id)
    form = ResetForm()
    status = 200
    if form.validate_on_submit():
        if not use_once(form.nonce.data):
            return _shown_already()
        patron, temporary = patron_actions.reset_password(
            patron.card_number, actor=current_actor(), reason=form.reason.data
        )
        return notice_response(patron, temporary)
    if form.is_submitted():
        status = 400
    form.nonce.data = new_once()
    return render_template("staff/reset.html", form=form, patron=patron), status


@bp.route("/patrons/<int:patron_id>/renew", methods=["POST"])
@requires(Permission.RENEW)
def renew(patron_id: int) -> Any:
    """Set a new expiry date, with the reason."""
    patron = _patron(patron_id)
    form = RenewForm()
    if not form.validate_on_submit():
        flash(_("Enter the new expiry date and the reason."), "error")
        return redirect(url_for("staff.patrons.show", patron_id=patron.id)), 303
    try:
        patron_actions.renew(
            patron.card_number, form.expires_on.data, actor=current_actor(), reason=form.reason.data
        )
    except PatronError:
        flash(_("The new expiry date must not be in the past."), "error")
    else:
        flash(_("The card was renewed."), "info")
    return redirect(url_for("staff.patrons.show", patron_id=patron.id)), 303


@bp.route("/patrons/<int:patron_id>/status", methods=["POST"])
@requires(Permission.SET_STATUS)
def set_status(patron_id: int) -> Any:
    """Change the card's status (supervisors), with the reason."""
    patron = _patron(patron_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash(_("Choose a status and enter the reason."), "error")
        return redirect(url_for("staff.patrons.show", patron_id=patron.id)), 303
    patron_actions.set_status(
        patron.card_number, form.status.data, actor=current_actor(), reason=form.reason.data
    )
    flash(_("The card's status was changed."), "info")
    return redirect(url_for("staff.patrons.show", patron_id=patron.id)), 303


@bp.route("/patrons/<int:patron_id>/unlock", methods=["POST"])
@requires(Permission.UNLOCK)
def unlock(patron_id: int) -> Any:
    """Unlock the card and clear its failure counters, with the reason."""
    patron = _patron(patron_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Enter the reason."), "error")
        return redirect(url_for("staff.patrons.show", patron_id=patron.id)), 303
    patron_actions.unlock(patron.card_number, actor=current_actor(), reason=form.reason.data)
    flash(_("The card was unlocked."), "info")
    return redirect(url_for("staff.patrons.show", patron_id=patron.id)), 303
