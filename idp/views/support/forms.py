"""Forms of the hosted pages (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import InputRequired
from wtforms.validators import Length

from idp.views.support.page_form import PageForm

_CARD_NUMBER = {"autocomplete": "username", "inputmode": "numeric"}
#: No maxlength: the browser would cut a pasted password silently.
_CURRENT = {"autocomplete": "current-password", "maxlength": False}


def required_field(
    kind: type[Any],
    label: LazyString,
    missing: LazyString,
    max_length: int,
    render_kw: dict[str, Any] | None = None,
) -> Any:
    """A field every form page needs filled in, and no longer than ``max_length``.

    :param kind: the WTForms field class (``StringField``, ``PasswordField``, …).
    :param missing: what the page says under the field when it is left empty.
    :param render_kw: attributes of the input (``autocomplete``, ``inputmode``, …).
    """
    validators = [InputRequired(missing), Length(max=max_length)]
    return kind(label, validators=validators, render_kw=render_kw)


def patron_card_number() -> Any:
    """The card number field of the patron's pages (login, password re-issue)."""
    return required_field(
        StringField,
        _l("Library card number"),
        _l("Enter your library card number."),
        64,
        _CARD_NUMBER,
    )


class LoginForm(PageForm):
    """Card number and password (SPEC §4: field names are part of the interface)."""

    card_number = patron_card_number()
    password = required_field(
        PasswordField, _l("Password"), _l("Enter your password."), 256, _CURRENT
    )
    rid = HiddenField()


class DecisionForm(PageForm):
    """A yes/no decision about a pending request (consent, logout)."""

    rid = HiddenField()
