"""The patron's own account: password change, e-mail addresses and their confirmation.

SPEC §1 (password rules, the temporary flag cleared only by the patron's own choice)
and §4 (account page, the mail "利用者情報登録完了のお知らせ" with a signed link). Mail
for the patron is written in their language (``patron.locale``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from dataclasses import field
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template
from flask import url_for
from flask_babel import LazyString
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.i18n import library_contact
from idp.i18n import library_name
from idp.i18n import portal_name
from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts.password_rules import RULE_MESSAGES
from idp.services.accounts.password_rules import PasswordRule
from idp.services.accounts.password_rules import check_new_password
from idp.services.accounts.patrons import normalize_password
from idp.services.container import container
from idp.services.logout import end_all_sessions
from idp.services.mail import BackgroundMailer
from idp.services.mail import Mailer
from idp.services.mail import MailError
from idp.services.mail import build_message
from idp.services.signin import SignInOutcome
from idp.services.signin import SignInResult
from idp.services.signin import Source
from idp.services.signin import check_patron
from idp.services.signin import message_for
from idp.services.signin.outcomes import WRONG_CURRENT_TEXT
from idp.services.signing import TokenError
from idp.services.signing import TokenService

log = logging.getLogger(__name__)

#: A character of an address: no "@", space or control character (PostgreSQL text cannot
#: hold NUL, and a line break must never reach a mail header).
_ADDRESS_CHAR = r"[^@\s\x00-\x1f\x7f-\x9f]"
EMAIL_PATTERN = re.compile(
    rf"{_ADDRESS_CHAR}{{1,64}}@{_ADDRESS_CHAR}{{1,190}}\.{_ADDRESS_CHAR}{{2,63}}"
)
#: How long an e-mail confirmation link stays valid, in seconds.
EMAIL_VERIFY_MAX_AGE = 7 * 24 * 3600


class PasswordChangeError(ValueError):
    """The change was not made; ``message`` tells the patron why, ``status`` the HTTP status."""

    def __init__(
        self,
        message: LazyString | str,
        rule: PasswordRule | None = None,
        *,
        status: int = 400,
        retry_after: int = 0,
    ) -> None:
        super().__init__(str(rule or "refused"))
        self.message = message
        self.rule = rule
        self.status = status
        self.retry_after = retry_after


def confirm_current_password(
    patron: Patron,
    current_password: str,
    *,
    channel: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SignInResult:
    """Check a signed-in patron's current password through the sign-in core.

    Same counters as every sign-in (per card, address, network), audited by the core
    with ``channel``: the form is no password oracle.

    :raises PasswordChangeError: wrong (400), throttled (429) or locked (403).
    """
    result = check_patron(
        patron.card_number,
        current_password,
        channel=channel,
        source=Source(ip=ip, user_agent=user_agent),
    )
    if result.outcome is SignInOutcome.THROTTLED:
        raise PasswordChangeError(
            message_for(result.outcome, retry_after=result.retry_after),
            status=429,
            retry_after=result.retry_after,
        )
    if result.outcome is SignInOutcome.LOCKED:
        raise PasswordChangeError(message_for(result.outcome), status=403)
    if not result.is_password_right:
        raise PasswordChangeError(WRONG_CURRENT_TEXT)
    return result


def mailer() -> Mailer:
    """The application's mailer (``IDP_SMTP_URL``, else ``instance/outbox/``)."""
    return container().mailer


def background_mailer() -> BackgroundMailer:
    """Sends without making the request wait (used where timing must not tell anything)."""
    return container().background_mailer


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on this provider, built from ``IDP_ISSUER``.

    Never from the request's Host header: a forged Host must not end up in a mailed link.
    """
    return container().settings.site.issuer + url_for(endpoint, **values)


def patron_message(
    patron: Patron, to: str, subject: LazyString, template: str, **ctx: str
) -> EmailMessage:
    """A mail to ``patron`` in their language, from ``IDP_MAIL_FROM``."""
    settings = container().settings
    locale = patron.locale if patron.locale in {"ja", "en"} else "ja"
    with force_locale(locale):
        library = library_name(locale)
        body = render_template(
            template,
            patron=patron,
            library=library,
            portal=portal_name(locale),
            portal_url=external_url("home.index"),
            contact=library_contact(locale),
            **ctx,
        )
        title = str(subject)
    sender = formataddr((settings.mail.sender_name or library, settings.mail.sender))
    return build_message(to=to, subject=title, body=body, from_addr=sender)


def set_password(patron: Patron, new_password: str) -> None:
    """Store a password the patron chose: no longer temporary; older links stop working."""
    svc = container()
    patron.password_hash = svc.passwords.hash(normalize_password(new_password))
    patron.is_temporary_password = False
    patron.temporary_password_expires_at = None
    patron.password_changed_at = svc.now()
    patron.password_version = (patron.password_version or 1) + 1


def change_password(
    patron: Patron,
    current_password: str,
    new_password: str,
    confirmation: str,
    *,
    keep_sid: str | None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Change a patron's password after checking the current one and the rules.

    Every other session and every refresh token of the patron ends (a stolen session
    does not survive the change).

    :param keep_sid: the session that made the change (stays signed in), if any.
    :raises PasswordChangeError: with the message for the patron.
    """
    result = confirm_current_password(
        patron, current_password, channel="password_change", ip=ip, user_agent=user_agent
    )
    if result.outcome is SignInOutcome.TEMPORARY_PASSWORD_EXPIRED:
        raise PasswordChangeError(message_for(result.outcome))
    rule = check_new_password(
        new_password,
        confirmation,
        card_number=patron.card_number,
        current_password=current_password,
    )
    if rule is not None:
        raise PasswordChangeError(RULE_MESSAGES[rule], rule)
    was_temporary = patron.is_temporary_password
    set_password(patron, new_password)
    end_all_sessions(patron.id, keep_sid=keep_sid, reason="password.changed")
    audit.record(
        "password.changed",
        patron_id=patron.id,
        ip=ip,
        user_agent=user_agent,
        was_temporary=was_temporary,
    )


# --- e-mail addresses ---------------------------------------------------------------


def email_tokens() -> TokenService:
    """Signed tokens of e-mail confirmation links."""
    svc = container()
    return TokenService(
        svc.config["SECRET_KEY"], "email.verify", EMAIL_VERIFY_MAX_AGE, clock=svc.now
    )


def clean_email(raw: str | None) -> str | None:
    """A trimmed address, or None when empty.

    :raises ValueError: when it does not look like an e-mail address.
    """
    value = (raw or "").strip()
    if not value:
        return None
    if len(value) > 254 or not EMAIL_PATTERN.fullmatch(value):
        raise ValueError(value)
    return value


@dataclass
class AccountUpdate:
    """What saving the account form leaves to send, once the face has committed it."""

    patron_id: int
    #: Notices to confirmed addresses taken off the card, then confirmation mails:
    #: ``(address, message, is_confirmation)``, in the order they are sent.
    mail: list[tuple[str, EmailMessage, bool]] = field(default_factory=list)


@dataclass
class AccountMailReport:
    """What sending the account form's mail did."""

    #: Addresses a confirmation mail was sent to.
    mailed: list[str] = field(default_factory=list)
    #: True when a mail could not be sent (the rest is saved).
    mail_failed: bool = False


def update_account(
    patron: Patron,
    *,
    email: str | None,
    email2: str | None,
    notify_due_date: bool,
    notify_reservation: bool,
    locale: str,
    send_confirmation: bool,
    current_password: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> AccountUpdate:
    """Save the account form; a new or changed address must be confirmed again.

    Changing or removing an e-mail address is security-relevant (a re-issue link goes to
    it): it needs the current password, checked through the sign-in core (channel
    ``email_change``), and every confirmed address that goes away is told so, with a
    way to report it. With ``send_confirmation``, every set but unconfirmed address gets
    the mail "利用者情報登録完了のお知らせ" with its confirmation link. The mail is only
    built here: the face commits the changes, then sends it with
    :func:`send_account_mail` (no mail for a change rolled back; a mail failure loses
    nothing).

    :raises PasswordChangeError: an address changes and the password is missing, wrong,
        throttled or the card locked; nothing is saved.
    """
    # Long on purpose: the account form's fields in the order the page shows them, with
    # the re-authentication and re-confirmation rules between them in that order.
    old = [
        (patron.email, patron.is_email_verified),
        (patron.email2, patron.is_email2_verified),
    ]
    changed = [
        name
        for name, before, after in (
            ("email", patron.email, email),
            ("email2", patron.email2, email2),
        )
        if before != after
    ]
    if changed:
        # Checked before anything changes (a refusal is recorded apart from the form).
        confirm_current_password(
            patron, current_password or "", channel="email_change", ip=ip, user_agent=user_agent
        )
    if "email" in changed:
        patron.email, patron.is_email_verified, patron.email_verified_at = email, False, None
    if "email2" in changed:
        patron.email2, patron.is_email2_verified, patron.email2_verified_at = email2, False, None
    patron.notify_due_date = notify_due_date
    patron.notify_reservation = notify_reservation
    if locale in {"ja", "en"}:
        patron.locale = locale
    audit.record("account.updated", patron_id=patron.id, ip=ip, changed=changed)
    result = AccountUpdate(patron.id)
    kept = {patron.email, patron.email2}
    for address, verified in old:
        if address and verified and address not in kept:
            result.mail.append((address, _change_notice(patron, address), False))
    if not send_confirmation:
        return result
    slots = [
        (1, patron.email, patron.is_email_verified),
        (2, patron.email2, patron.is_email2_verified),
    ]
    for slot, address, verified in slots:
        if address is None or verified:
            continue
        token = email_tokens().dumps({"p": patron.id, "s": slot, "e": address})
        link = external_url("account.verify_email_link", token=token)
        subject = _l("Your patron information has been registered")
        days = str(EMAIL_VERIFY_MAX_AGE // 86400)
        message = patron_message(
            patron, address, subject, "mail/verify_email.txt", link=link, days=days
        )
        result.mail.append((address, message, True))
    return result


def send_account_mail(update: AccountUpdate) -> AccountMailReport:
    """Send the mail of a saved account form; call it after the commit."""
    report = AccountMailReport()
    for address, message, is_confirmation in update.mail:
        if not _send(update.patron_id, message):
            report.mail_failed = True
        elif is_confirmation:
            report.mailed.append(address)
    return report


def _change_notice(patron: Patron, address: str) -> EmailMessage:
    """Tell a confirmed address that it was taken off the card, and how to report it."""
    zone = ZoneInfo(container().settings.site.timezone)
    return patron_message(
        patron,
        address,
        _l("An e-mail address was removed from your library card"),
        "mail/email_changed.txt",
        old_address=address,
        when=container().now().astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        link=external_url("password.reissue"),
    )


def _send(patron_id: int, message: EmailMessage) -> bool:
    """Send one mail to the patron; False (logged) when it could not be sent."""
    try:
        mailer().send(message)
    except MailError as exc:
        log.warning("mail for patron %s not sent: %s", patron_id, exc)
        return False
    return True


def verify_email(token: str | None) -> Patron:
    """Mark the address named by a confirmation link as confirmed.

    :raises TokenError: for a bad or expired link, or one for an address since changed.
    """
    data = email_tokens().loads(token)
    patron = db.session.get(Patron, data.get("p")) if isinstance(data.get("p"), int) else None
    if patron is None:
        raise TokenError("email.verify")
    now = container().now()
    if data.get("s") == 1 and patron.email == data.get("e"):
        if not patron.is_email_verified:
            patron.is_email_verified, patron.email_verified_at = True, now
    elif data.get("s") == 2 and patron.email2 == data.get("e"):
        if not patron.is_email2_verified:
            patron.is_email2_verified, patron.email2_verified_at = True, now
    else:
        raise TokenError("email.verify")
    audit.record("email.verified", patron_id=patron.id, slot=data["s"])
    return patron


def mail_failed_message() -> str:
    """What the patron is told when a mail could not be sent."""
    return str(_("The mail could not be sent. Please try again later."))
