"""Supervisor screens: the reports (page and CSV for Excel) and the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import render_template
from flask import request
from flask_babel import gettext as _

from idp.services.container import container
from idp.services.staff.lookup import recent_events
from idp.services.staff.reports import COLUMNS
from idp.services.staff.reports import Report
from idp.services.staff.reports import month_bounds
from idp.services.staff.reports import run_report
from idp.services.staff.reports import to_csv
from idp.services.staff.roles import Permission
from idp.views.staff.access import current_actor
from idp.views.staff.access import requires

bp = Blueprint("reports", __name__)

#: Default ``days`` of each report that takes one.
DEFAULT_DAYS = {Report.TEMPORARY_UNCHANGED: 14, Report.TEMPORARY_EXPIRING: 7}


def titles() -> dict[Report, str]:
    """Each report's title in the page's language."""
    return {
        Report.TEMPORARY_UNCHANGED: _("Temporary passwords not changed"),
        Report.TEMPORARY_EXPIRING: _("Temporary passwords about to expire"),
        Report.LOCKED: _("Locked cards"),
        Report.EXPIRING_THIS_MONTH: _("Cards expiring this month"),
    }


def column_titles() -> list[str]:
    """The column headings, in :data:`COLUMNS` order."""
    names = {
        "card_number": _("Library card number"),
        "name": _("Name"),
        "status": _("Status"),
        "expires_on": _("Card expiry date"),
        "temporary_since": _("Temporary password since"),
        "temporary_until": _("Temporary password until"),
        "locked_at": _("Locked at"),
    }
    return [names[c] for c in COLUMNS]


def _report(name: str) -> tuple[Report, int]:
    try:
        report = Report(name)
    except ValueError:
        abort(404)
    raw = request.args.get("days", "")
    days = DEFAULT_DAYS.get(report, 0)
    if raw:
        if not raw.isdigit() or not 0 < int(raw) <= 3650:
            abort(400)
        days = int(raw)
    return report, days


@bp.route("/reports")
@requires(Permission.REPORTS)
def index() -> Any:
    """The list of reports."""
    return render_template("staff/reports.html", titles=titles(), defaults=DEFAULT_DAYS)


@bp.route("/reports/<name>")
@requires(Permission.REPORTS)
def show(name: str) -> Any:
    """One report as a table, with its CSV link."""
    report, days = _report(name)
    rows = run_report(report, days=days)
    first, last = month_bounds(container().now())
    return render_template(
        "staff/report.html",
        report=report,
        title=titles()[report],
        days=days if report in DEFAULT_DAYS else None,
        rows=rows,
        columns=column_titles(),
        month=(first, last),
    )


@bp.route("/reports/<name>.csv")
@requires(Permission.REPORTS)
def csv(name: str) -> Response:
    """One report as CSV (UTF-8 with BOM, for Excel); the download is audited."""
    report, days = _report(name)
    rows = run_report(report, days=days)
    current_actor().audit("report.downloaded", report=report.value, rows=len(rows))
    response = Response(to_csv(rows, column_titles()), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{report.value}.csv"'
    return response


@bp.route("/audit")
@requires(Permission.AUDIT)
def audit_log() -> Any:
    """The latest audit events, optionally of one staff member or one event."""
    actor = (request.args.get("staff") or "").strip()[:64] or None
    event = (request.args.get("event") or "").strip()[:64] or None
    return render_template(
        "staff/audit.html", events=recent_events(actor=actor, event=event), actor=actor, event=event
    )
