"""Password re-issue by mail ("パスワード再発行", SPEC §4).

Card number + a registered, confirmed e-mail address → a signed link, valid 30 minutes
and good once (it names the patron's ``password_version``, which every password change
bumps) → a new password under the same rules. The request page answers the same, after
the same work, whether or not the card or the address exists: the link is signed and
the mail rendered in every case, and only handed to a background sender on a match.
"""

from __future__ import annotations

import datetime as dt
import hmac

from flask_babel import lazy_gettext as _l

from idp.context import services
from idp.extensions import db
from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts import PasswordChangeError
from idp.services.accounts import background_mailer
from idp.services.accounts import external_url
from idp.services.accounts import patron_message
from idp.services.accounts import set_password
from idp.services.card_numbers import normalize_card_number
from idp.services.logout import end_all_sessions
from idp.services.password_rules import RULE_MESSAGES
from idp.services.password_rules import PasswordRule
from idp.services.password_rules import check_new_password
from idp.services.patrons import find_patron
from idp.services.signin import matches_current_password
from idp.services.signin import unlock_patron
from idp.services.signing import TokenError
from idp.services.signing import TokenService

#: A re-issue link is valid this many seconds (SPEC §4: 30 minutes).
REISSUE_MAX_AGE = 30 * 60
SUBJECT = _l("Resetting your library password")


def reissue_tokens() -> TokenService:
    """Signed tokens of re-issue links."""
    svc = services()
    return TokenService(
        svc.config["SECRET_KEY"], "password.reissue", REISSUE_MAX_AGE, clock=svc.now
    )


def _is_settled(verified_at: dt.datetime | None) -> bool:
    """Whether an address was confirmed at least ``IDP_REISSUE_EMAIL_MIN_AGE`` ago.

    None: confirmed before confirmation times were recorded (or set by the library).
    """
    svc = services()
    min_age = dt.timedelta(seconds=int(svc.config["IDP_REISSUE_EMAIL_MIN_AGE"]))
    return verified_at is None or svc.now() - verified_at >= min_age


def _confirmed_address(patron: Patron | None, address: str) -> str | None:
    """The patron's address equal to ``address`` that may receive a re-issue link.

    Only a confirmed address, confirmed long enough ago: an address just put in through
    a stolen session (or a typo confirmed by someone else) gets no link yet.
    """
    if patron is None:
        return None
    wanted = address.strip().lower()
    for value, verified, verified_at in (
        (patron.email, patron.is_email_verified, patron.email_verified_at),
        (patron.email2, patron.is_email2_verified, patron.email2_verified_at),
    ):
        # Constant-time, so the comparison itself tells nothing either.
        if (
            value
            and verified
            and hmac.compare_digest(value.lower().encode(), wanted.encode())
            and _is_settled(verified_at)
        ):
            return value
    return None


def request_reissue(
    card_number: str, address: str, *, deliver: bool = True, ip: str | None = None
) -> bool:
    """Send a re-issue link when the card has this confirmed address.

    :param deliver: False when the per-card limit is reached: the same work is done,
        nothing is sent.
    :return: whether a mail was queued (for the audit log and tests; never shown).
    """
    patron = find_patron(normalize_card_number(card_number)) if card_number else None
    to = _confirmed_address(patron, address)
    # Without a match a stand-in (never saved) gets the same token and mail rendered.
    target = patron if to is not None and patron is not None else Patron(id=0, locale="ja")
    token = reissue_tokens().dumps({"p": target.id, "v": target.password_version or 0})
    message = patron_message(
        target,
        to or "nobody@invalid",
        SUBJECT,
        "mail/password_reissue.txt",
        link=external_url("password.reissue_link", token=token),
        minutes=str(REISSUE_MAX_AGE // 60),
    )
    sent = to is not None and deliver
    if sent:
        background_mailer().send(message)
    audit.record(
        "password.reissue_requested",
        patron_id=patron.id if patron else None,
        ip=ip,
        sent=sent,
        commit=True,
    )
    return sent


def patron_for_link(token: str | None) -> Patron:
    """The patron a re-issue link is for, while it is still good.

    :raises TokenError: for a bad, expired or already used link.
    """
    data = reissue_tokens().loads(token)
    patron_id, version = data.get("p"), data.get("v")
    patron = db.session.get(Patron, patron_id) if isinstance(patron_id, int) and patron_id else None
    if patron is None or patron.password_version != version:
        raise TokenError("password.reissue")
    return patron


def reissue_password(
    token: str | None, new_password: str, confirmation: str, *, ip: str | None = None
) -> Patron:
    """Set the new password chosen through a re-issue link. Commits.

    Ends every session and refresh token of the patron and clears the lock and the
    failure count (a re-issue is one way out of a lockout, SPEC §7).

    :raises TokenError: for a bad, expired or already used link.
    :raises PasswordChangeError: when the new password breaks a rule.
    """
    patron = patron_for_link(token)
    rule = check_new_password(new_password, confirmation, card_number=patron.card_number)
    if rule is None and matches_current_password(patron, new_password):
        rule = PasswordRule.SAME_AS_CURRENT
    if rule is not None:
        raise PasswordChangeError(RULE_MESSAGES[rule], rule)
    unlock_patron(patron)  # first: the limiter forgets the card in its own transaction
    set_password(patron, new_password)
    end_all_sessions(patron.id, reason="password.reissued")
    audit.record("password.reissued", patron_id=patron.id, ip=ip)
    db.session.commit()
    return patron
