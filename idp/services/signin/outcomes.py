"""Why a sign-in succeeded or was refused: one enum, one table of texts, one audit mapping.

Every channel maps from :class:`SignInOutcome`: the hosted pages show :func:`message_for`,
the credential-check API sends the value as its ``reason``, SIP2 picks its fields from it
(:mod:`idp.sip2.database_directory`), and :data:`AUDIT_EVENTS` names the audit line the core writes.
"""

from __future__ import annotations

import datetime as dt
import enum
import math

from flask_babel import LazyString
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from idp.models.patron import Patron
from idp.models.patron import PatronStatus
from idp.services.container import container


class SignInOutcome(enum.StrEnum):
    """The outcome of checking a card number (or another subject) and a password.

    The values are the wire values of the credential-check API's ``reason``.
    """

    OK = "ok"
    INVALID_CREDENTIALS = "invalid_credentials"
    TEMPORARY_PASSWORD = "temporary_password"  # noqa: S105 - a reason code
    TEMPORARY_PASSWORD_EXPIRED = "temporary_password_expired"  # noqa: S105 - a reason code
    CARD_EXPIRED = "card_expired"
    SUSPENDED = "suspended"
    LOST = "lost"
    WITHDRAWN = "withdrawn"
    #: Too many consecutive failures: locked until staff unlock or a password re-issue.
    LOCKED = "locked"
    #: Too many recent attempts for this card or source; try again later.
    THROTTLED = "throttled"

    @property
    def is_password_checked(self) -> bool:
        """False for THROTTLED and LOCKED: refused before the password was checked."""
        return self not in (SignInOutcome.THROTTLED, SignInOutcome.LOCKED)

    @property
    def is_inactive(self) -> bool:
        """True for a card whose status is not active (suspended, lost, withdrawn)."""
        return self in _INACTIVE


_INACTIVE = frozenset({SignInOutcome.SUSPENDED, SignInOutcome.LOST, SignInOutcome.WITHDRAWN})

#: The audit event of every outcome (the core records it, with the channel).
AUDIT_EVENTS: dict[SignInOutcome, str] = {
    SignInOutcome.OK: "login.ok",
    SignInOutcome.INVALID_CREDENTIALS: "login.failed",
    SignInOutcome.THROTTLED: "login.throttled",
    SignInOutcome.LOCKED: "login.locked",
    **{
        outcome: "login.refused"
        for outcome in (
            SignInOutcome.TEMPORARY_PASSWORD,
            SignInOutcome.TEMPORARY_PASSWORD_EXPIRED,
            SignInOutcome.CARD_EXPIRED,
            *_INACTIVE,
        )
    },
}
#: The audit event of the failure that locks the card (instead of ``login.locked``).
LOCKING_EVENT = "patron.locked"

_INACTIVE_TEXT = _l(
    "This library card cannot be used at the moment. Please ask at the library counter."
)
#: What the patron is told, by outcome (ja/en through Flask-Babel). The card's state is
#: only told once the password was right; THROTTLED and LOCKED without checking it.
MESSAGES: dict[SignInOutcome, LazyString] = {
    SignInOutcome.INVALID_CREDENTIALS: _l("The library card number or password is incorrect."),
    SignInOutcome.TEMPORARY_PASSWORD: _l(
        "You cannot log in with a temporary password. "
        "Please change it in %(portal)s before using this service."
    ),
    SignInOutcome.TEMPORARY_PASSWORD_EXPIRED: _l(
        "The temporary password has expired. Please ask at the library counter for a new one."
    ),
    SignInOutcome.CARD_EXPIRED: _l(
        "Your library card has expired. Please renew it at the library counter."
    ),
    SignInOutcome.SUSPENDED: _INACTIVE_TEXT,
    SignInOutcome.LOST: _INACTIVE_TEXT,
    SignInOutcome.WITHDRAWN: _INACTIVE_TEXT,
    SignInOutcome.LOCKED: _l(
        "This library card has been locked because the password was entered incorrectly "
        "too many times. Please ask at the library counter, or have your password reissued."
    ),
}
THROTTLED_TEXT = _l("Too many login attempts. Please wait %(minutes)s minutes and try again.")
#: A correct temporary password at a client that sends the patron to the change form.
MUST_CHANGE_TEXT = _l("Your password is temporary. Please change it before you continue.")
#: The password-change and e-mail forms: the current password was wrong.
WRONG_CURRENT_TEXT = _l("The current password is incorrect.")


def message_for(outcome: SignInOutcome, *, retry_after: int = 0, must_change: bool = False) -> str:
    """The patron-facing text of an outcome, in the current language.

    :param retry_after: for THROTTLED, the seconds to wait (told in whole minutes).
    :param must_change: for TEMPORARY_PASSWORD, the client sends the patron to the
        change form instead of refusing.
    """
    if outcome is SignInOutcome.THROTTLED:
        return str(THROTTLED_TEXT % {"minutes": max(1, math.ceil(retry_after / 60))})
    if outcome is SignInOutcome.TEMPORARY_PASSWORD and must_change:
        return str(MUST_CHANGE_TEXT)
    if outcome is SignInOutcome.TEMPORARY_PASSWORD:
        return str(MESSAGES[outcome] % {"portal": _portal_name()})
    return str(MESSAGES.get(outcome, MESSAGES[SignInOutcome.INVALID_CREDENTIALS]))


def _portal_name() -> str:
    """The patron portal's name (Myライブラリ) in the current language."""
    library = container().settings.library
    return library.portal_name if str(get_locale()) == "ja" else library.portal_name_en


_BY_STATUS = {
    PatronStatus.SUSPENDED.value: SignInOutcome.SUSPENDED,
    PatronStatus.LOST.value: SignInOutcome.LOST,
    PatronStatus.WITHDRAWN.value: SignInOutcome.WITHDRAWN,
}


def refusal_reason(patron: Patron, now: dt.datetime) -> SignInOutcome | None:
    """Why ``patron`` may not receive codes or tokens now, or None when they may.

    This is the invariant of SPEC §1: while the password is temporary, the card has
    expired or the status is not active, nothing is issued to any client by any path.
    Any status that is not one of ours refuses, as a suspension does.
    """
    if patron.status != PatronStatus.ACTIVE:
        return _BY_STATUS.get(str(patron.status), SignInOutcome.SUSPENDED)
    if patron.is_card_expired(now, container().settings.site.timezone):
        return SignInOutcome.CARD_EXPIRED
    if patron.is_temporary_password:
        if patron.is_temporary_password_expired(now):
            return SignInOutcome.TEMPORARY_PASSWORD_EXPIRED
        return SignInOutcome.TEMPORARY_PASSWORD
    return None
