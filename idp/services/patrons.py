"""Patron sign-in and issuing: the credential rules of SPEC §1 in one place."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from idp.context import services
from idp.extensions import db
from idp.metrics import current_metrics
from idp.models.patron import Patron
from idp.models.patron import PatronStatus
from idp.services import audit
from idp.services import card_failures
from idp.services.allowance import Allowance
from idp.services.card_numbers import normalize_card_number
from idp.services.card_numbers import validate_card_number
from idp.services.passwords import generate_temporary_password
from idp.services.throttle import Throttle
from idp.services.throttle import throttle

#: Longest password we accept as input at all (new passwords are at most 20).
MAX_PASSWORD_INPUT = 256


class SignInOutcome(enum.StrEnum):
    """Why a sign-in succeeded or was refused."""

    OK = "ok"
    INVALID_CREDENTIALS = "invalid_credentials"
    TEMPORARY_PASSWORD = "temporary_password"  # noqa: S105 - a reason code
    TEMPORARY_PASSWORD_EXPIRED = "temporary_password_expired"  # noqa: S105 - a reason code
    CARD_EXPIRED = "card_expired"
    INACTIVE = "inactive"
    #: Too many recent attempts for this card or source; try again later.
    THROTTLED = "throttled"
    #: Too many consecutive failures: locked until staff unlock or a password re-issue.
    LOCKED = "locked"


@dataclass(frozen=True)
class SignInResult:
    """The outcome of checking a card number and password."""

    outcome: SignInOutcome
    #: The card's patron, if any. After a failure (INVALID_CREDENTIALS, THROTTLED,
    #: LOCKED) its attributes are expired: reading one loads the row again, work an
    #: unknown card never causes. Audit with :attr:`patron_id` instead.
    patron: Patron | None = None
    #: The patron's id (None for an unknown card), taken before anything committed.
    patron_id: int | None = None
    #: For THROTTLED: seconds until the next attempt is allowed.
    retry_after: int = 0


class PatronError(ValueError):
    """A staff or import request about a patron cannot be carried out."""


def normalize_password(raw: str) -> str:
    """NFKC-normalise a typed password, so that full-width input is the same password."""
    return unicodedata.normalize("NFKC", raw)


def find_patron(card_number: str) -> Patron | None:
    """The patron with this (normalised) card number, or None."""
    found: Patron | None = db.session.scalar(
        select(Patron).where(Patron.card_number == card_number)
    )
    return found


def refusal_reason(patron: Patron, now: dt.datetime) -> SignInOutcome | None:
    """Why ``patron`` may not receive codes or tokens now, or None when they may.

    This is the invariant of SPEC §1: while the password is temporary, the card has
    expired or the status is not active, nothing is issued to any client by any path.
    """
    if patron.status != PatronStatus.ACTIVE:
        return SignInOutcome.INACTIVE
    if patron.is_card_expired(now, services().config["IDP_TIMEZONE"]):
        return SignInOutcome.CARD_EXPIRED
    if patron.is_temporary_password:
        if patron.is_temporary_password_expired(now):
            return SignInOutcome.TEMPORARY_PASSWORD_EXPIRED
        return SignInOutcome.TEMPORARY_PASSWORD
    return None


def authenticate(
    card_number: str,
    password: str,
    *,
    source_ip: str | None = None,
    channel: str = "web",
    user_agent: str | None = None,
    allowance: Allowance | None = None,
) -> SignInResult:
    """Check a card number and password as typed by a patron (see :func:`_authenticate`).

    Counts the outcome in the metrics (``idp_logins_total``) when they are on.
    """
    result = _authenticate(
        card_number,
        password,
        source_ip=source_ip,
        channel=channel,
        user_agent=user_agent,
        allowance=allowance,
    )
    if metrics := current_metrics():
        metrics.logins.labels(result.outcome.value, channel).inc()
    return result


def _authenticate(
    card_number: str,
    password: str,
    *,
    source_ip: str | None,
    channel: str,
    user_agent: str | None,
    allowance: Allowance | None,
) -> SignInResult:
    """Check a card number and password as typed by a patron.

    Every way in — the hosted login page, the credential-check API, SIP2 — goes through
    here, so that the same rules (and the same counters) apply to all of them.

    :param source_ip: the client address, for per-source throttling and the audit log.
    :param channel: ``web``, ``api`` or ``sip2``, for the audit log.
    :param user_agent: for the audit log.
    :param allowance: the registered caller's allowance (a SIP2 terminal, an API client),
        if it has one: the caller's own per-minute and per-day counters apply instead of
        the per-address and per-network limits of ``source_ip`` (as well as them when the
        allowance says the address is limited too). The per-card limits always apply.

    Order of the checks (docs/security.md): a locked card is refused; then a throttled
    card or source is refused *without* checking the password and without counting
    toward the lock (so that locking someone out takes the attacker as long as guessing);
    then the password is checked and a failure counted. THROTTLED and LOCKED never tell
    whether the password was right; they are audited here, for every channel.

    An unknown card number costs one Argon2 verification, like a wrong password, and
    gives the same outcome; its counters grow and lock like a real card's, by the same
    database statements (:mod:`idp.services.card_failures`), so that neither the answer
    nor its timing tells whether the card exists. The card's status is only told once
    the password is right, so that it never helps someone guessing.
    """
    svc = services()
    gate = throttle()
    card = normalize_card_number(card_number)
    secret = normalize_password(password)
    # A number that fails the configured pattern or check digit cannot be anybody's card:
    # it is never looked up and has no counters of its own, but it still goes through the
    # per-source limits and costs one (dummy) Argon2 verification, so that its answer and
    # timing are those of a wrong password.
    well_formed = is_valid_card_number(card)
    patron = find_patron(card) if well_formed and len(secret) <= MAX_PASSWORD_INPUT else None
    context = _Attempt(
        patron, patron.id if patron else None, source_ip, channel, user_agent, allowance
    )
    # Read before the counters commit: after a commit, reading the patron would load the
    # row again, one query more than an unknown card costs.
    password_hash = patron.password_hash if patron else None
    state = card_failures.failure_state(card) if well_formed else card_failures.FailureState()
    if (
        (patron is not None and patron.locked_at is not None)
        or state.locked_at is not None
        or gate.card_rule.is_locking(state.count)
    ):
        context.audit("login.locked")
        return SignInResult(SignInOutcome.LOCKED, patron, context.patron_id)
    wait = max(
        gate.check("card", card) if well_formed else 0,
        gate.check_source(source_ip, allowance=allowance),
    )
    if wait:
        context.audit("login.throttled", retry_after=wait)
        return SignInResult(SignInOutcome.THROTTLED, patron, context.patron_id, wait)
    gate.hit_source(source_ip, allowance=allowance)
    if not svc.passwords.verify(password_hash, secret):
        return _count_failure(gate, card if well_formed else None, context)
    assert patron is not None  # noqa: S101 - verify() is False without a hash
    now = svc.now()
    if svc.passwords.needs_rehash(patron.password_hash):
        patron.password_hash = svc.passwords.hash(secret)
    # One commit for the reset counters and the patron's row (no write lock is held
    # during the re-hash above).
    gate.reset("card", card, commit=False)
    if state.count:
        card_failures.clear_failures(card)
    reason = refusal_reason(patron, now)
    if reason is None:
        patron.last_login_at = now
    db.session.commit()
    return SignInResult(reason or SignInOutcome.OK, patron, context.patron_id)


@dataclass(frozen=True)
class _Attempt:
    """Who is signing in, from where: for the audit events of throttling."""

    patron: Patron | None
    #: Taken before anything commits: reading it later would reload the patron's row,
    #: a query an unknown card would not make.
    patron_id: int | None
    source_ip: str | None
    channel: str
    user_agent: str | None
    #: The caller's allowance, whose counters replace the source's per-address ones.
    allowance: Allowance | None = None

    def audit(self, event: str, **detail: Any) -> None:
        audit.record(
            event,
            patron_id=self.patron_id,
            ip=self.source_ip,
            user_agent=self.user_agent,
            channel=self.channel,
            commit=True,
            **detail,
        )


def _count_failure(gate: Throttle, card: str | None, attempt: _Attempt) -> SignInResult:
    """Count a wrong password for the card and the source; lock at the hard cap.

    Known or unknown, a well-formed card gets the same statements and commits: the
    patron's row is neither written nor read again, only ``card_failures``.

    :param card: the normalised card number, or None for a malformed one (source only).
    """
    if card is not None:
        gate.hit("card", card)  # the delays; the throttle store commits its own writes
    gate.hit_source(attempt.source_ip, failed=True, allowance=attempt.allowance)
    if card is None:
        return SignInResult(SignInOutcome.INVALID_CREDENTIALS)
    now = services().now()
    failures = card_failures.record_failure(card, now)
    if gate.card_rule.is_locking(failures):
        card_failures.lock_card(card, now)
        attempt.audit("patron.locked", failures=failures)  # commits
        return SignInResult(SignInOutcome.LOCKED, attempt.patron, attempt.patron_id)
    db.session.commit()
    return SignInResult(SignInOutcome.INVALID_CREDENTIALS, attempt.patron, attempt.patron_id)


def unlock_patron(patron: Patron) -> None:
    """Clear a card's lock and failure counters (staff unlock, password re-issue).

    The throttle's delay counter is reset at once (in the database store that commits);
    the caller records the audit event and commits the rest.
    """
    unlock_card(patron.card_number)
    patron.locked_at = None


def unlock_card(card_number: str) -> None:
    """Clear the lock and failure counters of a normalised card number, issued or not.

    Commits the throttle's reset (database store) but not the rest: the caller commits.
    """
    throttle().reset("card", card_number)
    card_failures.clear_failures(card_number)


def issue_patron(
    card_number: str,
    expires_on: dt.date,
    *,
    name: str | None = None,
    email: str | None = None,
    password: str | None = None,
) -> tuple[Patron, str | None]:
    """Create a patron. Without ``password`` a temporary one is generated.

    :return: the new patron (added to the session, not committed) and the generated
        temporary password, which is never stored in clear and cannot be recovered.
    :raises PatronError: for a malformed or already used card number.
    """
    svc = services()
    card = normalize_card_number(card_number)
    if not is_valid_card_number(card):
        raise PatronError("card number does not match the configured pattern or check digit")
    if find_patron(card) is not None:
        raise PatronError("card number already issued")
    temporary = None
    if password is None:
        temporary = generate_temporary_password(svc.config["IDP_TEMPORARY_PASSWORD_LENGTH"])
    patron = Patron(
        card_number=card,
        password_hash=svc.passwords.hash(temporary or password or ""),
        is_temporary_password=temporary is not None,
        temporary_password_expires_at=temporary_expiry(svc.now()) if temporary else None,
        expires_on=expires_on,
        name=name or None,
        email=email or None,
    )
    # A number that was guessed before it was issued starts with a clean slate.
    card_failures.clear_failures(card)
    db.session.add(patron)
    return patron, temporary


def temporary_expiry(now: dt.datetime) -> dt.datetime | None:
    """When a temporary password issued now stops working (None: never)."""
    days = int(services().config.get("IDP_TEMPORARY_PASSWORD_DAYS", 0) or 0)
    return now + dt.timedelta(days=days) if days > 0 else None


def is_valid_card_number(card_number: str) -> bool:
    """Tell whether a card number can be a card of this library.

    The number is NFKC-normalised first (full-width digits, hyphens and spaces as people
    type them, see :func:`~idp.services.card_numbers.normalize_card_number`), then must
    match ``IDP_CARD_NUMBER_PATTERN`` in full and satisfy ``IDP_CARD_CHECK_DIGIT``. Every
    way a card number comes in (issue, import, login, the credential-check API, SIP2 and
    the desk's card verification) asks this one function.

    :param card_number: the card number, as typed or already normalised.
    :return: True when it is well formed under the configuration.
    """
    config = services().config
    return validate_card_number(
        normalize_card_number(card_number),
        pattern=str(config["IDP_CARD_NUMBER_PATTERN"]),
        check_digit=config.get("IDP_CARD_CHECK_DIGIT", "none"),
    )
