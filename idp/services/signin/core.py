"""The one password check: reserve, verify, settle, audit (SPEC §1, §7).

:func:`check_patron` is what every channel calls with a card number and a password;
:func:`check_secret` is the layer under it that any other subject kind (a staff account
keyed by its user name, channel ``staff``) reuses with counters of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy.orm import Session

from idp.extensions import db
from idp.metrics import current_metrics
from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts.patrons import find_patron
from idp.services.accounts.patrons import is_valid_card_number
from idp.services.accounts.patrons import normalize_password
from idp.services.allowance import Allowance
from idp.services.cards.numbers import normalize_card_number
from idp.services.container import container
from idp.services.signin import lockout
from idp.services.signin.limiter import Slot
from idp.services.signin.limiter import limiter
from idp.services.signin.limiter import source_slots
from idp.services.signin.outcomes import AUDIT_EVENTS
from idp.services.signin.outcomes import LOCKING_EVENT
from idp.services.signin.outcomes import SignInOutcome
from idp.services.signin.outcomes import refusal_reason

#: Longest password we accept as input at all (new passwords are at most 20).
MAX_PASSWORD_INPUT = 256
#: Channels that confirm a signed-in patron's password (not a sign-in of their own).
REAUTH_CHANNELS = frozenset({"password_change", "email_change"})


@dataclass(frozen=True)
class Source:
    """Where a check comes from: what the per-source counters and the audit line see."""

    #: The address counted by the per-address and per-network limits (and audited).
    ip: str | None = None
    user_agent: str | None = None
    #: A registered caller's allowance (SIP2 terminal, API client): its own counters
    #: replace the per-address ones (:func:`~idp.services.signin.limiter.source_slots`).
    allowance: Allowance | None = None
    #: The relying party the check is for, if any (audited).
    client_id: str | None = None
    #: The address audited instead of :attr:`ip` (the API caller's own server).
    audit_ip: str | None = None
    #: Further audit details (a terminal's name, the patron's address as told by an API
    #: client); never a secret.
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretCheck:
    """The answer of :func:`check_secret`."""

    #: True: right; False: wrong; None: refused unchecked (throttled).
    is_right: bool | None
    #: For a refusal: seconds until the next attempt is allowed.
    retry_after: int = 0
    #: Consecutive failures of the subject including this one (0 after a success).
    failures: int = 0


def check_secret(
    subject_kind: str,
    subject_key: str | None,
    verify: Callable[[], bool],
    *,
    source: Source,
    extra_slots: Sequence[Slot] = (),
) -> SecretCheck:
    """Reserve every counter, then run ``verify`` only when they all allow it.

    :param subject_kind: the counter kind of the subject (``card``; ``staff`` for staff
        accounts — a kind without a rule of its own uses the per-card rule).
    :param subject_key: the subject (a card number, a user name); None for input that
        cannot be any subject (no counter of its own, the per-source ones still count).
    :param verify: the password check itself, e.g. an Argon2 verification.
    :param source: the per-source counters (address and network, or an allowance).
    :param extra_slots: further counters to reserve in the same atomic step.
    """
    slots = [Slot(subject_kind, subject_key)] if subject_key is not None else []
    slots += source_slots(source.ip, source.allowance)
    slots += extra_slots
    gate = limiter()
    reservation = gate.reserve(slots)
    if not reservation.allowed:
        return SecretCheck(None, reservation.wait)
    try:
        is_right = verify()
    except BaseException:
        gate.release(reservation)  # the check never answered: nothing to count
        raise
    gate.settle(reservation, succeeded=is_right)
    counter = reservation.counter(subject_kind)
    failures = 0 if is_right or counter is None else counter.settled + 1
    return SecretCheck(is_right, 0, failures)


@dataclass(frozen=True)
class SignInResult:
    """The outcome of checking a card number and password."""

    outcome: SignInOutcome
    #: The card's patron, if any. After a refusal its lock and failure count are
    #: expired (the refusal's own transaction changed them): reading one loads the row
    #: again, work an unknown card never causes. Use :attr:`patron_id`.
    patron: Patron | None = None
    #: The patron's id (None for an unknown card), taken before anything was written.
    patron_id: int | None = None
    #: For THROTTLED: seconds until the next attempt is allowed.
    retry_after: int = 0

    @property
    def is_password_right(self) -> bool:
        """True when the password was checked and right (whatever the card's state)."""
        return self.outcome.is_password_checked and (
            self.outcome is not SignInOutcome.INVALID_CREDENTIALS
        )


def record_outcome(
    outcome: SignInOutcome,
    *,
    channel: str,
    source: Source,
    patron_id: int | None = None,
    event: str | None = None,
    session: Session | None = None,
    **detail: Any,
) -> None:
    """Add the audit line of a sign-in outcome to the face's session, or to ``session``.

    The only writer of sign-in audit lines; another subject kind's checks record theirs
    here too (``patron_id`` None, the subject in ``detail``).

    :param session: a refusal's own session (:func:`refusal`); the face's by default.
    """
    audit.record(
        event or AUDIT_EVENTS[outcome],
        session=session,
        patron_id=patron_id,
        client_id=source.client_id,
        ip=source.audit_ip or source.ip,
        user_agent=source.user_agent,
        channel=channel,
        outcome=outcome.value,
        **{**source.detail, **detail},
    )
    if metrics := current_metrics():
        metrics.logins.labels(outcome.value, channel).inc()


@contextmanager
def refusal() -> Iterator[Session]:
    """A session of its own for the record of a refused attempt, committed when the block ends.

    A refused guess — the failure it counts, the lock it causes, its audit line — must
    stand even when the request or command that made it fails afterwards, and the next
    guess, in any worker, must see it at once: it is no part of the face's unit of work.
    Everything a check writes after a right answer (the last sign-in, a rehashed
    password, forgotten failures, the audit line) is the face's, committed by it.

    Call it before the face's session writes anything: on SQLite (one writer) this
    connection would wait for the face's uncommitted write.
    """
    with Session(db.engine) as session:
        yield session
        session.commit()


def check_patron(card_number: str, password: str, *, channel: str, source: Source) -> SignInResult:
    """Check a card number and password as typed by a patron; count, decide, audit.

    Every way in — the hosted login page, the password-change and e-mail forms, the
    credential-check API, SIP2 — calls this, so that the same rules and counters apply
    to all of them, and each outcome is audited once, with ``channel``.

    Order (docs/security.md): a locked card is refused; then one atomic step reserves a
    slot in the card's, the source's and the caller's counters, and a refusal there gives
    them back and answers THROTTLED without checking the password (so locking someone
    out takes the attacker as long as guessing); then the password is checked, and a
    failure counted toward the lock. THROTTLED and LOCKED never tell whether the
    password was right. The card's state is only told once the password is right.

    A refusal before or at the password (LOCKED, THROTTLED, a wrong password) is written
    in a transaction of its own (:func:`refusal`); what a right password changes is left
    in the face's session for the face to commit.

    An unknown card number costs one Argon2 verification, like a wrong password, and
    gives the same outcome; its counters grow and lock like a real card's, by the same
    statements, so that neither the answer nor its timing tells whether it exists.
    """
    # Over 60 lines, deliberately: the order above is the security rule, and it reads
    # best as one sequence; ``refuse`` and ``finish`` close over the state read first
    # (patron, hash, lock), which separate step functions would have to pass around.
    svc = container()
    card = normalize_card_number(card_number)
    secret = normalize_password(password)
    # A number that fails the configured pattern or check digit cannot be anybody's card:
    # it is never looked up and has no counters of its own, but it still goes through
    # the per-source limits and costs one (dummy) Argon2 verification.
    well_formed = is_valid_card_number(card)
    patron = find_patron(card) if well_formed and len(secret) <= MAX_PASSWORD_INPUT else None
    patron_id = patron.id if patron else None
    # Read up front: after a refusal the lock is reloaded, one query more than an
    # unknown card costs.
    password_hash = patron.password_hash if patron else None
    locked_at = patron.locked_at if patron else None
    state = lockout.failure_state(card) if well_formed else lockout.FailureState()

    def refuse(
        outcome: SignInOutcome, retry_after: int = 0, *, is_failure: bool = False
    ) -> SignInResult:
        detail: dict[str, Any] = {"retry_after": retry_after} if retry_after else {}
        event = None
        with refusal() as session:
            if is_failure:
                # Counted toward the lock, by the same statements for an unknown card.
                now = svc.now()
                failures = lockout.record_failure(session, card, now)
                if limiter().card_rule.is_locking(failures):
                    lockout.lock_card(session, card, now)
                    outcome, event = SignInOutcome.LOCKED, LOCKING_EVENT
                    detail = {"failures": failures}
            record_outcome(
                outcome,
                channel=channel,
                source=source,
                patron_id=patron_id,
                event=event,
                session=session,
                **detail,
            )
        if patron is not None:
            db.session.expire(patron, ["locked_at", "failed_login_count"])
        return SignInResult(outcome, patron, patron_id, retry_after)

    def finish(outcome: SignInOutcome) -> SignInResult:
        # The password was right: the face commits this with the rest of its work.
        record_outcome(outcome, channel=channel, source=source, patron_id=patron_id)
        return SignInResult(outcome, patron, patron_id)

    if (
        locked_at is not None
        or state.locked_at is not None
        or limiter().card_rule.is_locking(state.count)
    ):
        return refuse(SignInOutcome.LOCKED)
    check = check_secret(
        "card",
        card if well_formed else None,
        lambda: svc.passwords.verify(password_hash, secret),
        source=source,
    )
    if check.is_right is None:
        return refuse(SignInOutcome.THROTTLED, check.retry_after)
    if not check.is_right:
        return refuse(SignInOutcome.INVALID_CREDENTIALS, is_failure=well_formed)
    assert patron is not None  # noqa: S101 - verify() is False without a hash
    now = svc.now()
    if svc.passwords.needs_rehash(patron.password_hash):
        patron.password_hash = svc.passwords.hash(secret)
    if state.count:
        lockout.clear_failures(card)
    reason = refusal_reason(patron, now)
    if reason is None and channel not in REAUTH_CHANNELS:
        patron.last_login_at = now
    return finish(reason or SignInOutcome.OK)


def check_password(
    subject_kind: str,
    subject_key: str | None,
    password_hash: str | None,
    secret: str,
    *,
    source: Source,
) -> SecretCheck:
    """:func:`check_secret` with the Argon2 verification of ``secret`` against a stored hash.

    For other kinds of account that sign in with a password (staff accounts): the hash is
    verified here, so that every password check of the product runs inside this package.
    A missing hash costs the same dummy verification as an unknown card.
    """
    return check_secret(
        subject_kind,
        subject_key,
        lambda: container().passwords.verify(password_hash, secret),
        source=source,
    )


def matches_current_password(patron: Patron, candidate: str) -> bool:
    """Whether ``candidate`` is the patron's current password: a rule check, not a sign-in.

    Only for a patron already proven by other means (a valid re-issue link refusing the
    same password again) or for the operator's own tools (``idp demo``); never as an
    answer to someone who is not.
    """
    return container().passwords.verify(patron.password_hash, normalize_password(candidate))
