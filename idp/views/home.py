"""The provider's own pages: the start page, help, and the logout button."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for

from idp.services.logout import end_browser_session
from idp.views.support.caller import caller_facts
from idp.views.support.current import current_patron

bp = Blueprint("home", __name__)


@bp.route("/")
def index() -> Any:
    """Start page: what this site is, and where to go."""
    return render_template("home/index.html", patron=current_patron())


@bp.route("/help", endpoint="help")
def help_page() -> Any:
    """Questions patrons ask, following the steps of the printed notice."""
    return render_template("home/help.html")


@bp.route("/signout", methods=["POST"])
def signout() -> Any:
    """The logout button of the provider's own pages (CSRF-protected form)."""
    end_browser_session(session, **caller_facts())
    return redirect(url_for("home.logged_out"))


@bp.route("/logged-out")
def logged_out() -> Any:
    """Tells the patron that the logout happened."""
    return render_template("logout/done.html")
