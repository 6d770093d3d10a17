"""Forms of the staff console (Flask-WTF: every form carries the session's CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
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

_REASON = _l("Reason (recorded in the audit log)")


class SignInForm(FlaskForm):  # type: ignore[misc]
    username = StringField(
        _l("Username"),
        validators=[InputRequired(_l("Enter your username.")), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Enter your password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class TotpForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("6-digit code from the authenticator app"),
        validators=[InputRequired(_l("Enter the code.")), Length(max=16)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class RecoveryForm(FlaskForm):  # type: ignore[misc]
    recovery_code = StringField(
        _l("Recovery code"),
        validators=[InputRequired(_l("Enter a recovery code.")), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )


class PasskeyForm(FlaskForm):  # type: ignore[misc]
    """The browser's WebAuthn answer, put in ``credential`` by staff-passkey.js."""

    credential = HiddenField(validators=[InputRequired(), Length(max=16 * 1024)])


class PasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("New password (at least 12 characters)"),
        validators=[InputRequired(_l("Enter a password.")), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    password_confirm = PasswordField(
        _l("New password again"),
        validators=[InputRequired(_l("Enter the password again.")), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )


class FindForm(FlaskForm):  # type: ignore[misc]
    card_number = StringField(
        _l("Library card number"),
        validators=[InputRequired(_l("Enter a library card number.")), Length(max=64)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )


class SearchForm(FlaskForm):  # type: ignore[misc]
    query = StringField(
        _l("Name or e-mail address"),
        validators=[
            InputRequired(_l("Enter a name or an e-mail address.")),
            Length(min=2, max=100),
        ],
        render_kw={"autocomplete": "off"},
    )


class OnceForm(FlaskForm):  # type: ignore[misc]
    """A form whose result is shown once: ``nonce`` is used up by the first submission."""

    nonce = HiddenField()


class IssueForm(OnceForm):
    card_number = StringField(
        _l("Library card number"),
        validators=[InputRequired(_l("Enter a library card number.")), Length(max=64)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
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
    reason = TextAreaField(
        _REASON, validators=[InputRequired(_l("Enter the reason.")), Length(max=500)]
    )


class RenewForm(FlaskForm):  # type: ignore[misc]
    expires_on = DateField(
        _l("New expiry date"), validators=[InputRequired(_l("Enter the expiry date."))]
    )
    reason = TextAreaField(
        _REASON, validators=[InputRequired(_l("Enter the reason.")), Length(max=500)]
    )


class StatusForm(FlaskForm):  # type: ignore[misc]
    status = SelectField(
        _l("New status"),
        choices=[
            SelectChoice(PatronStatus.ACTIVE.value, _l("Active")),
            SelectChoice(PatronStatus.SUSPENDED.value, _l("Suspended")),
            SelectChoice(PatronStatus.LOST.value, _l("Lost")),
            SelectChoice(PatronStatus.WITHDRAWN.value, _l("Withdrawn")),
        ],
    )
    reason = TextAreaField(
        _REASON, validators=[InputRequired(_l("Enter the reason.")), Length(max=500)]
    )


class ReasonForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        _REASON, validators=[InputRequired(_l("Enter the reason.")), Length(max=500)]
    )


class ScanForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Scan the barcode or type the digits"),
        validators=[InputRequired(_l("Scan or type a code.")), Length(max=256)],
        render_kw={"autocomplete": "off", "inputmode": "numeric", "autofocus": True},
    )


class StaffAddForm(FlaskForm):  # type: ignore[misc]
    username = StringField(
        _l("Username"),
        validators=[InputRequired(_l("Enter a username.")), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "none"},
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
    reason = TextAreaField(
        _REASON, validators=[InputRequired(_l("Enter the reason.")), Length(max=500)]
    )
