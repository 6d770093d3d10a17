"""The SIP2 responder's patron directory on the IdP's own credential store.

Every password a terminal sends goes through :func:`idp.services.signin.check_patron`,
the same check (and the same counters, lock and audit) as the hosted login page and the
credential-check API. Terminal logins are throttled per source address with the
same shared counters, and audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask import g
from flask_babel import force_locale

from idp.extensions import db
from idp.services import audit
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.patrons import is_valid_card_number
from idp.services.allowance import Allowance
from idp.services.container import container
from idp.services.signin import SignInOutcome
from idp.services.signin import SignInResult
from idp.services.signin import Source
from idp.services.signin import check_patron
from idp.services.signin import limiter
from idp.services.signin import message_for
from idp.services.signin import record_outcome
from idp.services.signin import refusal_reason
from idp.services.signin import source_slots
from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from idp.sip2.directory import PatronAnswer
from idp.sip2.directory import PatronReason

#: Screen-message languages (the terminal's setting picks one).
LANGUAGES = ("ja", "en")
#: Patron status positions set for a card that may not be used (expired, suspended…),
#: so that a terminal reading only the status field refuses service too.
REFUSED_BLOCKS = frozenset(
    {
        "charge_privileges_denied",
        "renewal_privileges_denied",
        "recall_privileges_denied",
        "hold_privileges_denied",
    }
)
#: Longest terminal login kept in the audit log (the CN is whatever the peer sent).
_MAX_LOGGED_LOGIN = 64

#: The log/audit reason of SIP2 answers (kept as before: every inactive status is
#: ``suspended``; the status itself goes on the wire as the patron-status flags).
_REASONS: dict[SignInOutcome, PatronReason] = {
    SignInOutcome.OK: "ok",
    SignInOutcome.INVALID_CREDENTIALS: "invalid_credentials",
    SignInOutcome.TEMPORARY_PASSWORD: "temporary_password",
    SignInOutcome.TEMPORARY_PASSWORD_EXPIRED: "temporary_password_expired",
    SignInOutcome.CARD_EXPIRED: "card_expired",
    SignInOutcome.SUSPENDED: "suspended",
    SignInOutcome.LOST: "suspended",
    SignInOutcome.WITHDRAWN: "suspended",
    SignInOutcome.LOCKED: "locked",
    SignInOutcome.THROTTLED: "throttled",
}


def _screen_message(outcome: SignInOutcome, retry_after: int = 0) -> dict[str, str]:
    """The hosted login page's message for ``outcome``, in every terminal language."""
    if outcome is SignInOutcome.TEMPORARY_PASSWORD:
        return dict(TEMPORARY_PASSWORD_SCREEN_MESSAGE)
    messages = {}
    for language in LANGUAGES:
        with force_locale(language):
            messages[language] = message_for(outcome, retry_after=retry_after)
    return messages


def status_blocks(outcome: SignInOutcome, *, with_pin: bool = True) -> frozenset[str]:
    """The patron-status flags (SIP2 2.00 fixed field) of a card refused for ``outcome``.

    An expired or inactive card denies charge, renewal, recall and hold privileges, and a
    lost card also sets "card reported lost". Without a PIN the terminal learns nothing
    else about the card (there is no CQ), so a temporary password — with which the card
    may not be used until the patron chooses a password — denies them too.
    """
    refused = {SignInOutcome.CARD_EXPIRED} | {o for o in SignInOutcome if o.is_inactive}
    if not with_pin:
        refused |= {SignInOutcome.TEMPORARY_PASSWORD, SignInOutcome.TEMPORARY_PASSWORD_EXPIRED}
    if outcome not in refused:
        return frozenset()
    if outcome is SignInOutcome.LOST:
        return REFUSED_BLOCKS | {"card_reported_lost"}
    return REFUSED_BLOCKS


class DatabaseDirectory:
    """:class:`~idp.sip2.directory.PatronDirectory` and terminal-login guard on the app's store.

    Called from one server thread per connection: each call runs in its own application
    context, so it has its own database session, removed at the end.
    """

    def __init__(self, app: Flask, allowances: Mapping[str, Allowance] | None = None) -> None:
        """:param app: the application whose database, throttle and audit log are used.
        :param allowances: terminal login → its allowance (``checks_per_minute``,
            ``failures_per_day`` in the terminals file): the patron checks of such a
            terminal count against the terminal instead of its address.
        """
        self.app = app
        self.allowances = dict(allowances or {})

    @contextmanager
    def _context(self, terminal: str) -> Iterator[None]:
        with self.app.app_context():
            # Also makes ``g`` non-empty, which Flask-Babel's force_locale needs outside
            # a request.
            g.sip2_terminal = terminal
            try:
                yield
                # One unit of work per SIP2 message: the handler commits once, at the end.
                db.session.commit()
            finally:
                db.session.remove()

    # The signature repeats PatronDirectory.authenticate in sip2/directory.py: this class
    # implements that Protocol, so the two must stay alike.
    def authenticate(
        self,
        card_number: str,
        password: str | None,
        *,
        terminal: str,
        source_ip: str,
    ) -> PatronAnswer:
        """Answer BL/CQ for a card number, checking the password when one is given.

        ``CQ=Y`` means the patron may use the service now: the password is right, not
        temporary, and the card is valid and active. A right password on a card that may
        not be used answers ``CQ=N`` with the status blocks and the reason as AF. Name,
        e-mail and expiry are only released after a right password. Throttled and locked
        requests answer ``BL=N`` without checking anything, so that they never help a
        guesser enumerate card numbers.
        """
        with self._context(terminal):
            if password is None:
                return self._lookup(card_number, terminal, source_ip)
            result = check_patron(
                card_number,
                password,
                channel="sip2",
                source=self._source(terminal, source_ip),
            )
            return self._answer(result)

    def _source(self, terminal: str, source_ip: str) -> Source:
        return Source(
            ip=source_ip,
            user_agent=terminal,
            allowance=self.allowances.get(terminal),
            detail={"terminal": terminal},
        )

    def _answer(self, result: SignInResult) -> PatronAnswer:
        outcome = result.outcome
        patron = result.patron
        reason = _REASONS[outcome]
        if not outcome.is_password_checked:
            # Refused before the password was checked: nothing about the card is told.
            return PatronAnswer(
                False,
                False,
                screen_message=_screen_message(outcome, result.retry_after),
                reason=reason,
            )
        if patron is None:
            return PatronAnswer(
                False, False, screen_message=_screen_message(outcome), reason="unknown"
            )
        if outcome is SignInOutcome.INVALID_CREDENTIALS:
            return PatronAnswer(True, False, screen_message=_screen_message(outcome), reason=reason)
        details: dict[str, Any] = {
            "name": patron.name,
            "email": patron.email if patron.is_email_verified else None,
            "expires_on": patron.expires_on,
        }
        if outcome is SignInOutcome.OK:
            return PatronAnswer(True, True, reason="ok", **details)
        return PatronAnswer(
            True,
            False,
            status_blocks(outcome),
            screen_message=_screen_message(outcome),
            reason=reason,
            expires_on=patron.expires_on,
        )

    def _lookup(self, card_number: str, terminal: str, source_ip: str) -> PatronAnswer:
        """BL and the patron-status flags without a password.

        Counted like a sign-in attempt from the terminal's address (or against the
        terminal, when it has an allowance), reserved before the card is looked up; an
        unknown card also counts as a failure for the day, so that enumerating card
        numbers is as slow as guessing passwords. A card that may not be used now gets
        the flags of :func:`status_blocks` and the reason as AF, never a plain BL=Y.
        """
        gate = limiter()
        source = self._source(terminal, source_ip)
        reservation = gate.reserve(source_slots(source_ip, source.allowance))
        if not reservation.allowed:
            record_outcome(
                SignInOutcome.THROTTLED,
                channel="sip2",
                source=source,
                retry_after=reservation.wait,
            )
            return PatronAnswer(
                False,
                None,
                screen_message=_screen_message(SignInOutcome.THROTTLED, reservation.wait),
                reason="throttled",
            )
        patron = find_patron(card_number) if is_valid_card_number(card_number) else None
        gate.settle(reservation, succeeded=patron is not None)
        refusal = refusal_reason(patron, container().now()) if patron is not None else None
        audit.record(
            "sip2.patron_lookup",
            patron_id=patron.id if patron else None,
            ip=source_ip,
            user_agent=terminal,
            channel="sip2",
            terminal=terminal,
            found=patron is not None,
            status=refusal.value if refusal else None,
        )
        if patron is None:
            return PatronAnswer(False, None, reason="unknown")
        if refusal is None:
            return PatronAnswer(True, None, reason="ok")
        return PatronAnswer(
            True,
            None,
            status_blocks(refusal, with_pin=False),
            screen_message=_screen_message(refusal),
            reason=_REASONS[refusal],
        )

    # --- terminal logins (TerminalLoginGuard) ---------------------------------------------

    def check_login(self, user: str, source_ip: str) -> bool:
        """False while the address is throttled (the login is refused unchecked, audited)."""
        with self._context(user):
            wait = limiter().waiting(source_slots(source_ip))
            if not wait:
                return True
            audit.record(
                "sip2.terminal_login.throttled",
                ip=source_ip,
                channel="sip2",
                terminal=user[:_MAX_LOGGED_LOGIN],
                retry_after=wait,
            )
            return False

    def record_login(self, user: str, source_ip: str, *, is_ok: bool, reason: str) -> None:
        """Audit a terminal login; a failure counts against the address like a wrong password."""
        with self._context(user):
            if not is_ok:
                # A failed terminal login costs the address what a wrong password does.
                gate = limiter()
                gate.settle(gate.reserve(source_slots(source_ip)), succeeded=False)
            audit.record(
                "sip2.terminal_login.ok" if is_ok else "sip2.terminal_login.failed",
                ip=source_ip,
                channel="sip2",
                terminal=user[:_MAX_LOGGED_LOGIN],
                reason=reason,
            )
