"""Forms of the patron's own pages: password change, re-issue, account (Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms.validators import Length

from idp.views.support.forms import patron_card_number
from idp.views.support.forms import required_field
from idp.views.support.page_form import PageForm

#: No ``maxlength``: a browser would cut a longer password silently and the patron would
#: be locked out with its first 20 characters; the server's rules say "too long" instead.
#: (``maxlength=False`` also keeps WTForms from copying the Length validator's bound.)
_NEW = {"autocomplete": "new-password", "maxlength": False}
_CURRENT = {"autocomplete": "current-password", "maxlength": False}
_EMAIL = {"autocomplete": "email"}


class PasswordChangeForm(PageForm):
    """SPEC §4: fields ``current_password``, ``new_password``, ``new_password_confirm``."""

    current_password = required_field(
        PasswordField, _l("Current password"), _l("Enter your current password."), 256, _CURRENT
    )
    new_password = required_field(
        PasswordField, _l("New password"), _l("Enter a new password."), 256, _NEW
    )
    new_password_confirm = required_field(
        PasswordField,
        _l("New password (again, to confirm)"),
        _l("Enter the new password again."),
        256,
        _NEW,
    )


class NewPasswordForm(PageForm):
    """The new password chosen through a re-issue link."""

    new_password = PasswordChangeForm.new_password
    new_password_confirm = PasswordChangeForm.new_password_confirm


class ReissueForm(PageForm):
    """Card number and registered e-mail address."""

    card_number = patron_card_number()
    email = required_field(
        EmailField,
        _l("Registered e-mail address"),
        _l("Enter your registered e-mail address."),
        254,
        _EMAIL,
    )


class AccountForm(PageForm):
    """E-mail addresses and notification choices (the seed's 利用者情報変更)."""

    email = EmailField(_l("E-mail 1"), validators=[Length(max=254)], render_kw=_EMAIL)
    email2 = EmailField(_l("E-mail 2"), validators=[Length(max=254)])
    notify_due_date = BooleanField(_l("Due-date reminder"))
    notify_reservation = BooleanField(_l("Reservation ready"))
    send_confirmation = BooleanField(_l("Send a confirmation mail"), default=True)
    #: Needed only when an e-mail address changes (checked by the sign-in core).
    current_password = PasswordField(
        _l("Current password (needed to change an e-mail address)"),
        validators=[Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class CancelForm(PageForm):
    """Give up a pending sign-in request and go back to the service."""

    rid = HiddenField()
