"""The SIP2 responder's patron directory on the IdP's own credential store.

Every password a terminal sends goes through :func:`idp.services.patrons.authenticate`,
the same check (and the same throttling counters, lock and audit) as the hosted login page
and the credential-check API. Terminal logins are throttled per source address with the
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
from idp.models.patron import Patron
from idp.models.patron import PatronStatus
from idp.services import audit
from idp.services.allowance import Allowance
from idp.services.patrons import SignInOutcome
from idp.services.patrons import SignInResult
from idp.services.patrons import authenticate
from idp.services.patrons import find_patron
from idp.services.patrons import is_valid_card_number
from idp.services.throttle import throttle
from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from idp.sip2.directory import PatronAnswer
from idp.sip2.directory import PatronReason
from idp.views.login import refusal_message

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

_REASONS: dict[SignInOutcome, PatronReason] = {
    SignInOutcome.OK: "ok",
    SignInOutcome.INVALID_CREDENTIALS: "invalid_credentials",
    SignInOutcome.TEMPORARY_PASSWORD: "temporary_password",
    SignInOutcome.TEMPORARY_PASSWORD_EXPIRED: "temporary_password_expired",
    SignInOutcome.CARD_EXPIRED: "card_expired",
    SignInOutcome.INACTIVE: "suspended",
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
            messages[language] = refusal_message(outcome, "deny", retry_after)
    return messages


def _blocks(patron: Patron, outcome: SignInOutcome) -> frozenset[str]:
    if outcome not in (SignInOutcome.CARD_EXPIRED, SignInOutcome.INACTIVE):
        return frozenset()
    if patron.status == PatronStatus.LOST:
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
            finally:
                db.session.remove()

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
            result = authenticate(
                card_number,
                password,
                source_ip=source_ip,
                channel="sip2",
                user_agent=terminal,
                allowance=self.allowances.get(terminal),
            )
            answer = self._answer(result)
            self._audit(result, answer, terminal, source_ip)
            return answer

    def _answer(self, result: SignInResult) -> PatronAnswer:
        outcome = result.outcome
        patron = result.patron
        reason = _REASONS[outcome]
        if outcome in (SignInOutcome.THROTTLED, SignInOutcome.LOCKED):
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
            _blocks(patron, outcome),
            screen_message=_screen_message(outcome),
            reason=reason,
            expires_on=patron.expires_on,
        )

    def _audit(
        self, result: SignInResult, answer: PatronAnswer, terminal: str, source_ip: str
    ) -> None:
        if result.outcome in (SignInOutcome.THROTTLED, SignInOutcome.LOCKED):
            return  # recorded by authenticate() for every channel
        event = {"ok": "login.ok", "invalid_credentials": "login.failed", "unknown": "login.failed"}
        audit.record(
            event.get(answer.reason, "login.refused"),
            patron_id=result.patron_id,
            ip=source_ip,
            user_agent=terminal,
            channel="sip2",
            terminal=terminal,
            reason=answer.reason,
            commit=True,
        )

    def _lookup(self, card_number: str, terminal: str, source_ip: str) -> PatronAnswer:
        """BL without a password: counted like a sign-in attempt from the terminal's address
        (or against the terminal, when it has an allowance).

        An unknown card also counts as a failure for the address's daily limit, so that
        enumerating card numbers is as slow as guessing passwords.
        """
        gate = throttle()
        allowance = self.allowances.get(terminal)
        wait = gate.check_source(source_ip, allowance=allowance)
        if wait:
            audit.record(
                "login.throttled",
                ip=source_ip,
                user_agent=terminal,
                channel="sip2",
                terminal=terminal,
                retry_after=wait,
                commit=True,
            )
            return PatronAnswer(
                False,
                None,
                screen_message=_screen_message(SignInOutcome.THROTTLED, wait),
                reason="throttled",
            )
        gate.hit_source(source_ip, allowance=allowance)
        patron = find_patron(card_number) if is_valid_card_number(card_number) else None
        if patron is None:
            gate.hit_source(source_ip, failed=True, allowance=allowance)
        audit.record(
            "sip2.patron_lookup",
            patron_id=patron.id if patron else None,
            ip=source_ip,
            user_agent=terminal,
            channel="sip2",
            terminal=terminal,
            found=patron is not None,
            commit=True,
        )
        if patron is None:
            return PatronAnswer(False, None, reason="unknown")
        return PatronAnswer(True, None, reason="ok")

    # --- terminal logins (TerminalLoginGuard) ---------------------------------------------

    def check_login(self, user: str, source_ip: str) -> bool:
        """False while the address is throttled (the login is refused unchecked, audited)."""
        with self._context(user):
            wait = throttle().check_source(source_ip)
            if not wait:
                return True
            audit.record(
                "sip2.terminal_login.throttled",
                ip=source_ip,
                channel="sip2",
                terminal=user[:_MAX_LOGGED_LOGIN],
                retry_after=wait,
                commit=True,
            )
            return False

    def record_login(self, user: str, source_ip: str, *, is_ok: bool, reason: str) -> None:
        """Audit a terminal login; a failure counts against the address like a wrong password."""
        with self._context(user):
            if not is_ok:
                gate = throttle()
                gate.hit_source(source_ip)
                gate.hit_source(source_ip, failed=True)
            audit.record(
                "sip2.terminal_login.ok" if is_ok else "sip2.terminal_login.failed",
                ip=source_ip,
                channel="sip2",
                terminal=user[:_MAX_LOGGED_LOGIN],
                reason=reason,
                commit=True,
            )
