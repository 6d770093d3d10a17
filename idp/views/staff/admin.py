"""Administrator screens: staff accounts (add, disable, enable, reset) and clients."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from idp.extensions import db
from idp.models.client import Client
from idp.services.clients import UnknownClientError
from idp.services.clients import set_client_enabled
from idp.services.staff.accounts import StaffError
from idp.services.staff.accounts import add_staff
from idp.services.staff.accounts import disable_staff
from idp.services.staff.accounts import enable_staff
from idp.services.staff.accounts import list_staff
from idp.services.staff.accounts import reset_staff
from idp.services.staff.roles import Permission
from idp.views.staff.access import current_actor
from idp.views.staff.access import current_staff
from idp.views.staff.access import requires
from idp.views.staff.forms import OnceReasonForm
from idp.views.staff.forms import ReasonForm
from idp.views.staff.forms import StaffAddForm
from idp.views.staff.once import new_once
from idp.views.staff.once import use_once

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _staff_page(form: StaffAddForm | None = None, message: str | None = None) -> str:
    return render_template(
        "staff/admin_staff.html",
        members=list_staff(),
        form=form or StaffAddForm(formdata=None),
        action_form=OnceReasonForm(formdata=None, nonce=new_once()),
        message=message,
    )


@bp.route("/staff", methods=["GET", "POST"])
@requires(Permission.MANAGE_STAFF)
def staff() -> Any:
    """Staff accounts; adding one shows its one-time enrolment link once."""
    form = StaffAddForm()
    if form.validate_on_submit():
        try:
            enrolment = add_staff(
                form.username.data or "",
                form.role.data,
                actor=current_actor(),
                name=form.name.data,
                branch=form.branch.data,
            )
        except StaffError as exc:
            return _staff_page(form, str(exc)), 400
        db.session.commit()
        return render_template("staff/enrolment_link.html", enrolment=enrolment)
    return _staff_page(form), 400 if form.is_submitted() else 200


@bp.route("/staff/<username>/<action>", methods=["POST"])
@requires(Permission.MANAGE_STAFF)
def staff_action(username: str, action: str) -> Any:
    """Disable, enable or reset an account, with the reason."""
    if action not in {"disable", "enable", "reset"}:
        abort(404)
    form = OnceReasonForm()
    if not form.validate_on_submit():
        flash(_("Enter the reason."), "error")
        return redirect(url_for("staff.admin.staff")), 303
    if not use_once(form.nonce.data):
        return render_template("staff/shown_once.html"), 409
    me = current_staff()
    if me is not None and me.username == username and action != "enable":
        flash(_("You cannot disable or reset your own account."), "error")
        return redirect(url_for("staff.admin.staff")), 303
    actor = current_actor()
    try:
        if action == "disable":
            disable_staff(username, actor=actor, reason=form.reason.data)
        elif action == "enable":
            enable_staff(username, actor=actor, reason=form.reason.data)
        else:
            enrolment = reset_staff(username, actor=actor, reason=form.reason.data)
            db.session.commit()
            return render_template("staff/enrolment_link.html", enrolment=enrolment)
    except StaffError:
        abort(404)
    db.session.commit()
    flash(_("Done."), "info")
    return redirect(url_for("staff.admin.staff")), 303


@bp.route("/clients")
@requires(Permission.MANAGE_CLIENTS)
def clients() -> Any:
    """Registered clients and whether each may be used."""
    rows = list(db.session.scalars(select(Client).order_by(Client.client_id)))
    return render_template("staff/admin_clients.html", clients=rows, form=ReasonForm(formdata=None))


@bp.route("/clients/<client_id>/<action>", methods=["POST"])
@requires(Permission.MANAGE_CLIENTS)
def client_action(client_id: str, action: str) -> Any:
    """Enable or disable a client, with the reason (a disabled client gets nothing)."""
    if action not in {"enable", "disable"}:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Enter the reason."), "error")
        return redirect(url_for("staff.admin.clients")), 303
    try:
        # The same service as `idp clients enable|disable`: a disabled client's tokens end.
        changed = set_client_enabled(client_id, action == "enable")
    except UnknownClientError:
        abort(404)
    current_actor().audit(
        f"client.{action}d", client_id=client_id, reason=form.reason.data, changed=changed
    )
    db.session.commit()
    flash(_("Done."), "info")
    return redirect(url_for("staff.admin.clients")), 303
