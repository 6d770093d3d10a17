"""Password re-issue by mail ("パスワード再発行", SPEC §4).

Card number + a registered, confirmed e-mail address → a signed link, valid 30 minutes
and good once → a new password under the same rules. The link is spent the first time
it is opened: :func:`redeem_link` records it in the shared replay memory and hands the
browser a short server-side state instead (:class:`ReissueGrant`, kept in the session),
so that a link copied from a log, a proxy or a browser history is worth nothing. The
state names the patron's ``password_version``, which every password change bumps.
The request page answers the same, after the same work, whether or not the card or the
address exists: the link is signed and the mail rendered in every case, and only handed
to a background sender on a match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from idp.extensions import db
from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts.password_rules import RULE_MESSAGES
from idp.services.accounts.password_rules import PasswordRule
from idp.services.accounts.password_rules import check_new_password
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.self_service import PasswordChangeError
from idp.services.accounts.self_service import background_mailer
from idp.services.accounts.self_service import external_url
from idp.services.accounts.self_service import patron_message
from idp.services.accounts.self_service import set_password
from idp.services.cards.numbers import normalize_card_number
from idp.services.cards.service import card_service
from idp.services.container import container
from idp.services.logout import end_all_sessions
from idp.services.signin import matches_current_password
from idp.services.signin import unlock_patron
from idp.services.signing import TokenError
from idp.services.signing import TokenService

#: A re-issue link is valid this many seconds (SPEC §4: 30 minutes).
REISSUE_MAX_AGE = 30 * 60
#: Seconds the new-password form stays usable after its link was opened.
REISSUE_FORM_WINDOW = 15 * 60
SUBJECT = _l("Resetting your library password")


def reissue_tokens() -> TokenService:
    """Signed tokens of re-issue links."""
    svc = container()
    return TokenService(
        svc.config["SECRET_KEY"], "password.reissue", REISSUE_MAX_AGE, clock=svc.now
    )


def _is_settled(verified_at: dt.datetime | None) -> bool:
    """Whether an address was confirmed at least ``IDP_REISSUE_EMAIL_MIN_AGE`` ago.

    None: confirmed before confirmation times were recorded (or set by the library).
    """
    svc = container()
    min_age = dt.timedelta(seconds=svc.settings.accounts.reissue_email_min_age)
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
    )
    return sent


@dataclass(frozen=True)
class ReissueGrant:
    """What an opened re-issue link leaves in the browser's server-side session."""

    patron_id: int
    password_version: int
    #: POSIX time after which the form is refused.
    until: int
    #: SHA-256 of the link: opening the same link again in this browser finds the form.
    link: str

    def as_dict(self) -> dict[str, int | str]:
        return {
            "p": self.patron_id,
            "v": self.password_version,
            "until": self.until,
            "link": self.link,
        }

    @classmethod
    def from_dict(cls, data: object) -> ReissueGrant | None:
        """The grant kept in a session, or None when there is none (or it is malformed)."""
        if not isinstance(data, dict):
            return None
        values = (data.get("p"), data.get("v"), data.get("until"), data.get("link"))
        if not all(isinstance(v, int) for v in values[:3]) or not isinstance(values[3], str):
            return None
        return cls(values[0], values[1], values[2], values[3])  # type: ignore[arg-type]


def link_digest(token: str) -> str:
    """SHA-256 of a re-issue link's token (never the token itself is kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _patron_at(patron_id: object, version: object) -> Patron:
    patron = db.session.get(Patron, patron_id) if isinstance(patron_id, int) and patron_id else None
    if patron is None or patron.password_version != version:
        raise TokenError("password.reissue")
    return patron


def redeem_link(token: str) -> ReissueGrant:
    """Spend a re-issue link: it is good for this one opening only.

    :raises TokenError: for a bad, expired or already opened link.
    """
    data = reissue_tokens().loads(token)
    patron = _patron_at(data.get("p"), data.get("v"))
    # First opening wins, on every node (Redis SET NX or the database's primary key).
    if not card_service().replay.claim("reissue-link:" + token, REISSUE_MAX_AGE):
        raise TokenError("password.reissue")
    audit.record("password.reissue_opened", patron_id=patron.id)
    until = int(container().now().timestamp()) + REISSUE_FORM_WINDOW
    return ReissueGrant(patron.id, patron.password_version or 0, until, link_digest(token))


def patron_for_grant(grant: ReissueGrant) -> Patron:
    """The patron an opened link is for, while its form is still good.

    :raises TokenError: when the form's time is up or the password changed meanwhile.
    """
    if grant.until < container().now().timestamp():
        raise TokenError("password.reissue")
    return _patron_at(grant.patron_id, grant.password_version)


def reissue_password(
    grant: ReissueGrant, new_password: str, confirmation: str, *, ip: str | None = None
) -> Patron:
    """Set the new password chosen through a re-issue link.

    Ends every session and refresh token of the patron and clears the lock and the
    failure count (a re-issue is one way out of a lockout, SPEC §7).

    :raises TokenError: when the form's time is up or the password changed meanwhile.
    :raises PasswordChangeError: when the new password breaks a rule.
    """
    patron = patron_for_grant(grant)
    rule = check_new_password(new_password, confirmation, card_number=patron.card_number)
    if rule is None and matches_current_password(patron, new_password):
        rule = PasswordRule.SAME_AS_CURRENT
    if rule is not None:
        raise PasswordChangeError(RULE_MESSAGES[rule], rule)
    unlock_patron(patron)  # first: the limiter forgets the card in its own transaction
    set_password(patron, new_password)
    end_all_sessions(patron.id, reason="password.reissued")
    audit.record("password.reissued", patron_id=patron.id, ip=ip)
    return patron
