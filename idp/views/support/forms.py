"""Forms of the hosted pages (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import InputRequired
from wtforms.validators import Length


class LoginForm(FlaskForm):  # type: ignore[misc]
    """Card number and password (SPEC §4: field names are part of the interface)."""

    card_number = StringField(
        _l("Library card number"),
        validators=[InputRequired(_l("Enter your library card number.")), Length(max=64)],
        render_kw={"autocomplete": "username", "inputmode": "numeric"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Enter your password.")), Length(max=256)],
        # No maxlength: the browser would cut a pasted password silently.
        render_kw={"autocomplete": "current-password", "maxlength": False},
    )
    rid = HiddenField()


class DecisionForm(FlaskForm):  # type: ignore[misc]
    """A yes/no decision about a pending request (consent, logout)."""

    rid = HiddenField()
