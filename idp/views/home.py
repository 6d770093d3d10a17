"""The provider's own start page: who is signed in, and where to go."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for

from idp.services.logout import end_browser_session
from idp.views.current import current_patron
from idp.views.forms import DecisionForm

bp = Blueprint("home", __name__)


@bp.route("/")
def index() -> Any:
    """Start page."""
    return render_template("home/index.html", patron=current_patron(), form=DecisionForm())


@bp.route("/signout", methods=["POST"])
def signout() -> Any:
    """The logout button of the provider's own pages (CSRF-protected form)."""
    end_browser_session(session)
    return redirect(url_for("home.index"))
