"""Forms of the staff console (Flask-WTF: every form carries the session's CSRF token)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from idp.models.patron import PatronStatus
from idp.services.staff.roles import Role
from idp.views.support.forms import required_field
from idp.views.support.page_form import PageForm

_REASON = _l("Reason (recorded in the audit log)")
#: The attributes of the console's inputs (what a browser may fill in, and how).
_USERNAME = {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
_NEW_USERNAME = {"autocomplete": "off", "autocapitalize": "none"}
_CURRENT = {"autocomplete": "current-password"}
_NEW = {"autocomplete": "new-password"}
_ONE_TIME_CODE = {"autocomplete": "one-time-code", "inputmode": "numeric"}
_RECOVERY_CODE = {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
_DIGITS = {"inputmode": "numeric", "autocomplete": "off"}
_SCAN = {"autocomplete": "off", "inputmode": "numeric", "autofocus": True}


def _card_number() -> Any:
    """The card number field of the desk (no autocomplete: many patrons share a desk)."""
    return required_field(
        StringField, _l("Library card number"), _l("Enter a library card number."), 64, _DIGITS
    )


def _required_reason() -> Any:
    """The audited reason an action must give (a new field per form, in its place)."""
    return required_field(TextAreaField, _REASON, _l("Enter the reason."), 500)


# The forms below are declarations of one shape (required_field: kind, label, message
# when empty, bound, input attributes); they differ in their words, not in logic.
class SignInForm(PageForm):
    username = required_field(
        StringField, _l("Username"), _l("Enter your username."), 64, _USERNAME
    )
    password = required_field(
        PasswordField, _l("Password"), _l("Enter your password."), 256, _CURRENT
    )


class TotpForm(PageForm):
    code = required_field(
        StringField,
        _l("6-digit code from the authenticator app"),
        _l("Enter the code."),
        16,
        _ONE_TIME_CODE,
    )


class RecoveryForm(PageForm):
    recovery_code = required_field(
        StringField, _l("Recovery code"), _l("Enter a recovery code."), 64, _RECOVERY_CODE
    )


class PasskeyForm(PageForm):
    """The browser's WebAuthn answer, put in ``credential`` by staff-passkey.js."""

    credential = HiddenField(validators=[InputRequired(), Length(max=16 * 1024)])


class PasswordForm(PageForm):
    password = required_field(
        PasswordField,
        _l("New password (at least 12 characters)"),
        _l("Enter a password."),
        256,
        _NEW,
    )
    password_confirm = required_field(
        PasswordField, _l("New password again"), _l("Enter the password again."), 256, _NEW
    )


class FindForm(PageForm):
    card_number = _card_number()


class SearchForm(PageForm):
    query = StringField(
        _l("Name or e-mail address"),
        validators=[
            InputRequired(_l("Enter a name or an e-mail address.")),
            Length(min=2, max=100),
        ],
        render_kw={"autocomplete": "off"},
    )


class OnceForm(PageForm):
    """A form whose result is shown once: ``nonce`` is used up by the first submission."""

    nonce = HiddenField()


class IssueForm(OnceForm):
    card_number = _card_number()
    expires_on = DateField(
        _l("Card expiry date"), validators=[InputRequired(_l("Enter the expiry date."))]
    )
    name = StringField(_l("Name (optional)"), validators=[Optional(), Length(max=200)])
    email = StringField(
        _l("E-mail address (optional)"),
        validators=[Optional(), Length(max=254)],
    )
    reason = TextAreaField(_REASON, validators=[Optional(), Length(max=500)])


class ResetForm(OnceForm):
    reason = _required_reason()


class RenewForm(PageForm):
    expires_on = DateField(
        _l("New expiry date"), validators=[InputRequired(_l("Enter the expiry date."))]
    )
    reason = _required_reason()


class StatusForm(PageForm):
    status = SelectField(
        _l("New status"),
        choices=[
            SelectChoice(PatronStatus.ACTIVE.value, _l("Active")),
            SelectChoice(PatronStatus.SUSPENDED.value, _l("Suspended")),
            SelectChoice(PatronStatus.LOST.value, _l("Lost")),
            SelectChoice(PatronStatus.WITHDRAWN.value, _l("Withdrawn")),
        ],
    )
    reason = _required_reason()


class ReasonForm(PageForm):
    reason = _required_reason()


class ScanForm(PageForm):
    code = required_field(
        StringField,
        _l("Scan the barcode or type the digits"),
        _l("Scan or type a code."),
        256,
        _SCAN,
    )


class StaffAddForm(PageForm):
    username = required_field(
        StringField, _l("Username"), _l("Enter a username."), 64, _NEW_USERNAME
    )
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(Role.COUNTER.value, _l("Counter")),
            SelectChoice(Role.SUPERVISOR.value, _l("Supervisor")),
            SelectChoice(Role.ADMIN.value, _l("Administrator")),
        ],
    )
    name = StringField(_l("Name (optional)"), validators=[Optional(), Length(max=200)])
    branch = StringField(_l("Branch (optional)"), validators=[Optional(), Length(max=100)])


class OnceReasonForm(OnceForm):
    reason = _required_reason()
