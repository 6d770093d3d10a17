"""The desk scan page: one input for a keyboard-wedge scanner or typed digits.

A phone's rotating code is checked by :mod:`idp.services.cards.desk`, the same code as
``POST /api/card/verify`` (limits, replay memory, audit); a printed plastic card's plain
number is recognised and said to be a plain card. The answer is shown large: the card
number, selected for copying into the circulation system, or why the code is refused.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import render_template
from flask import request

from idp.services.cards.desk import desk_reserve
from idp.services.cards.desk import desk_verify
from idp.services.cards.desk import plain_card
from idp.services.signin import limiter
from idp.services.staff.roles import Permission
from idp.views.staff.access import current_actor
from idp.views.staff.access import requires
from idp.views.staff.forms import ScanForm

bp = Blueprint("scan", __name__)


@bp.route("/scan", methods=["GET", "POST"])
@requires(Permission.SCAN)
def scan() -> Any:
    """Check a scanned code; the form stays ready for the next scan."""
    form = ScanForm()
    outcome: dict[str, Any] | None = None
    status = 200
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        actor = current_actor()
        caller = f"staff:{actor.name}"
        meta = {
            "ip": actor.ip,
            "user_agent": actor.user_agent,
            "actor": actor.name,
            "channel": "console",
            "role": actor.role,
        }
        raw = form.code.data or ""
        reservation = desk_reserve(caller)
        wait = reservation.wait
        if wait:
            actor.audit("card.throttled", retry_after=wait)
            outcome = {"kind": "throttled", "retry_after": wait}
            status, headers["Retry-After"] = 429, str(wait)
        elif (patron := plain_card(raw)) is not None:
            limiter().settle(reservation, succeeded=True)  # a real card is no guess
            actor.audit("card.plain_scanned", patron_id=patron.id)
            outcome = {"kind": "plain", "patron": patron}
        else:
            result = desk_verify(raw, reservation, meta)
            outcome = {
                "kind": "valid" if result.is_valid else "refused",
                "reason": result.reason,
                "patron": result.patron,
            }
    elif request.method == "POST":
        status = 400
    form.code.data = ""
    return render_template("staff/scan.html", form=form, outcome=outcome), status, headers
