"""Who may use the console: the network allow-list, the signed-in staff member, roles.

Every request under ``/staff`` passes :func:`check_request`: from outside
``IDP_STAFF_NETWORKS`` (when set) it gets a 403 page; without a signed-in staff member
it is sent to the sign-in page, unless the view is marked :func:`public`. A view that
needs a permission is wrapped in :func:`requires`: a staff member whose role lacks it
gets the 403 page, and the attempt is audited.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask import Response
from flask import current_app
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp.extensions import db
from idp.models.staff import StaffMember
from idp.services.container import container
from idp.services.networks import address_in
from idp.services.staff.actor import Actor
from idp.services.staff.roles import Permission
from idp.services.staff.roles import is_allowed
from idp.views.support.caller import caller_address
from idp.views.support.caller import caller_facts

_View = TypeVar("_View", bound=Callable[..., Any])


def public(view: _View) -> _View:
    """Mark a console view usable without a signed-in staff member (sign-in, enrolment)."""
    view._staff_public = True  # type: ignore[attr-defined]
    return view


def staff_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of ``IDP_STAFF_NETWORKS`` (empty: any address may open the console)."""
    return list(container().settings.staff.networks)


def is_allowed_address(address: str | None) -> bool:
    """True when ``address`` may open the console."""
    networks = staff_networks()
    if not networks:
        return True
    return address_in(address, networks)


def current_staff() -> StaffMember | None:
    """The signed-in staff member of this request, or None."""
    found: StaffMember | None = g.get("staff")
    return found


def current_actor() -> Actor:
    """The signed-in staff member as the actor of an audited action."""
    staff = current_staff()
    assert staff is not None  # noqa: S101 - only called behind check_request
    return Actor(
        name=staff.username,
        channel="console",
        role=staff.role,
        **caller_facts(),
    )


def forbidden_page(message: str | None = None) -> Response:
    """The console's 403 page."""
    body = render_template(
        "staff/forbidden.html", message=message or _("You are not allowed to do this.")
    )
    return Response(body, status=403, mimetype="text/html")


def check_request() -> ResponseReturnValue | None:
    """Before every console request: address, session, signed-in staff member."""
    if not is_allowed_address(caller_address()):
        return forbidden_page(_("The staff console cannot be used from this network."))
    staff = None
    staff_id = getattr(session, "staff_id", None)
    if staff_id is not None:
        staff = db.session.get(StaffMember, staff_id)
        if staff is None or not staff.is_active or staff.locked_at is not None:
            session.sign_out()  # type: ignore[attr-defined]
            staff = None
    g.staff = staff
    view = current_app.view_functions.get(request.endpoint or "")
    if staff is None and not getattr(view, "_staff_public", False):
        target = request.full_path if request.method == "GET" else None
        expired = "1" if getattr(session, "expired", False) else None
        return redirect(url_for("staff.auth.login", next=target, expired=expired))
    return None


def requires(permission: Permission) -> Callable[[_View], _View]:
    """Let only staff whose role has ``permission`` use the view; 403 and audit otherwise."""

    def decorate(view: _View) -> _View:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None or not is_allowed(staff.role, permission):
                if staff is not None:
                    current_actor().audit(
                        "staff.forbidden",
                        permission=permission.value,
                        path=request.path[:200],
                    )
                return forbidden_page()
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def can(permission: str) -> bool:
    """For templates: may the signed-in staff member do ``permission``?"""
    staff = current_staff()
    return staff is not None and is_allowed(staff.role, Permission(permission))
