"""The staff console under ``/staff`` (SPEC §6): one parent blueprint, a child per screen.

``staff.auth`` sign-in and second factor, ``staff.enrol`` the enrolment link,
``staff.patrons`` the counter's patron screens, ``staff.scan`` the desk scan page,
``staff.reports`` reports and audit log, ``staff.admin`` staff accounts and clients.
Every request passes :func:`~idp.views.staff.access.check_request` first.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask

from idp.views.staff import admin
from idp.views.staff import auth
from idp.views.staff import enrol
from idp.views.staff import patrons
from idp.views.staff import reports
from idp.views.staff import scan
from idp.views.staff.access import can
from idp.views.staff.access import check_request
from idp.views.staff.access import current_staff
from idp.views.staff.labels import HELPERS
from idp.views.staff.session import PREFIX
from idp.views.staff.session import ConsoleSessionInterface
from idp.views.staff.session import SplitSessionInterface

bp = Blueprint("staff", __name__, url_prefix=PREFIX)
for _child in (admin, auth, enrol, patrons, reports, scan):
    bp.register_blueprint(_child.bp)
bp.before_request(check_request)


@bp.app_context_processor
def _console_helpers() -> dict[str, object]:
    return {"staff_can": can, "current_staff": current_staff, **HELPERS}


def init_app(app: Flask) -> None:
    """Give ``/staff`` its own sessions (``IDP_STAFF_NETWORKS`` is checked with the
    other settings, at start)."""
    if not isinstance(app.session_interface, SplitSessionInterface):
        app.session_interface = SplitSessionInterface(
            app.session_interface, ConsoleSessionInterface()
        )
