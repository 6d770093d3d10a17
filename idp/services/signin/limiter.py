"""The one limiter: reserve a slot in every counter first, then decide (SPEC §7).

Every check that must resist guessing — a password, a card look-up, a desk card code, a
re-issue request — names its counters (:class:`Slot`) and calls :meth:`Limiter.reserve`.
One atomic step of the store adds a slot to each and returns the new values; the check
goes ahead only when every counter allows that slot, so parallel requests can never all
read "room for one more" (check-then-count). Afterwards the caller gives the slots back
(:meth:`Limiter.release`, refused), or settles them (:meth:`Limiter.settle`): a failure
keeps its slots and moves the per-card delays on; a success gives back the failure slots
and clears the per-subject delays.

Counters live in Redis when ``IDP_REDIS_URL`` is set, in ``throttle_counters`` otherwise,
and in the database while Redis does not answer (never fail open). Keys are HMACs of
kind and value, so neither store holds card numbers or addresses.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from idp.metrics import current_metrics
from idp.redis_client import SharedRedis
from idp.services.allowance import Allowance
from idp.services.container import container
from idp.services.signin.counters import Counter
from idp.services.signin.counters import CounterStore
from idp.services.signin.counters import DatabaseStore
from idp.services.signin.counters import FallbackStore
from idp.services.signin.counters import RedisStore
from idp.services.signin.rules import BackoffRule
from idp.services.signin.rules import Rule
from idp.services.signin.rules import WindowRule
from idp.services.signin.rules import network_of
from idp.services.signin.rules import rules_from_settings
from idp.settings import Settings


@dataclass(frozen=True)
class Slot:
    """One counter a check reserves a slot in.

    :param kind: the rule's name (``card``, ``ip``, ``net_day``, ``staff`` …).
    :param value: what is counted (a card number, an address, a caller's key).
    :param limit: for a window, this limit instead of the configured one (an allowance's).
    """

    kind: str
    value: str
    limit: int | None = None


@dataclass
class Reservation:
    """Slots reserved by one check, and what the counters said."""

    #: (slot, store key, rule, counter) for every reserved slot.
    entries: list[tuple[Slot, str, Rule, Counter]] = field(default_factory=list)
    #: Seconds until the check may be tried again; 0: go ahead.
    wait: int = 0
    #: The kinds that refused (for the metrics and tests).
    refused_by: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True when every counter had room for this slot."""
        return self.wait == 0

    def counter(self, kind: str) -> Counter | None:
        """The counter of ``kind`` as the reservation left it, if reserved."""
        for slot, _key, _rule, counter in self.entries:
            if slot.kind == kind:
                return counter
        return None


def source_slots(ip: str | None, allowance: Allowance | None = None) -> list[Slot]:
    """The per-source counters of a check from ``ip`` (or from a registered caller).

    An allowance's own counters apply *instead of* those of ``ip`` (unless it says the
    address is limited too, :attr:`~idp.services.allowance.Allowance.is_address_limited`).
    """
    slots = []
    if allowance is not None:
        slots.append(Slot("caller", allowance.key, allowance.checks_per_minute))
        slots.append(Slot("caller_day", allowance.key, allowance.failures_per_day))
    if ip and (allowance is None or allowance.is_address_limited):
        net = network_of(ip)
        slots += [Slot("ip", ip), Slot("net", net), Slot("ip_day", ip), Slot("net_day", net)]
    return slots


class Limiter:
    """The counters of one application; reach it with :func:`limiter`."""

    def __init__(self, store: CounterStore, rules: dict[str, Rule], secret: str) -> None:
        self.store = store
        self.rules = rules
        self._secret = secret.encode()

    def rule(self, slot: Slot) -> Rule:
        """The rule of a slot: its kind's, with the slot's own limit when it has one.

        A kind without a rule of its own (another subject kind, e.g. ``staff``) gets the
        per-card rule, counted under its own keys.
        """
        rule = self.rules.get(slot.kind) or self.rules["card"]
        if slot.limit is not None and isinstance(rule, WindowRule):
            return WindowRule(slot.limit, rule.window, rule.counts)
        return rule

    def key(self, slot: Slot, rule: Rule) -> str:
        """The store key of a slot: an HMAC, never the value itself."""
        digest = hmac.new(self._secret, f"{slot.kind}\0{slot.value}".encode(), hashlib.sha256)
        key = f"{slot.kind}:{digest.hexdigest()[:48]}"
        if isinstance(rule, WindowRule):
            key += f":{rule.bucket(container().now())}"
        return key

    def reserve(self, slots: Sequence[Slot]) -> Reservation:
        """Reserve one slot in every counter in one atomic step, then decide.

        A refused reservation has already given its slots back. A window whose limit is
        0 is switched off and not counted.
        """
        now = container().now()
        wanted: list[tuple[Slot, str, Rule]] = []
        for slot in slots:
            rule = self.rule(slot)
            if isinstance(rule, WindowRule) and rule.limit <= 0:
                continue
            wanted.append((slot, self.key(slot, rule), rule))
        ttls = [
            (key, rule.forget if isinstance(rule, BackoffRule) else rule.window)
            for _slot, key, rule in wanted
        ]
        counters = self.store.reserve(ttls, now)
        reservation = Reservation()
        refused = []
        for slot, key, rule in wanted:
            counter = counters.get(key, Counter(1))
            if isinstance(rule, BackoffRule):
                wait = rule.refuses(
                    counter.count, counter.settled, counter.last, now, counter.previous
                )
            else:
                wait = rule.refuses(counter.count, now)
            if wait:
                refused.append(slot.kind)
                reservation.wait = max(reservation.wait, wait)
            reservation.entries.append((slot, key, rule, counter))
        if refused:
            reservation.refused_by = tuple(refused)
            self.release(reservation)
            if metrics := current_metrics():
                for kind in refused:
                    metrics.throttle_events.labels(kind).inc()
        return reservation

    def release(self, reservation: Reservation) -> None:
        """Give every slot back (the check was refused before it ran)."""
        self.store.release([key for _slot, key, _rule, _counter in reservation.entries])

    def settle(self, reservation: Reservation, *, succeeded: bool) -> None:
        """Finish a check that went ahead.

        A failure keeps every slot and counts one more consecutive failure for the
        subject (the delays). A success gives back the failure slots (per day) and
        forgets the subject's failures.
        """
        now = container().now()
        keys_of = {
            "backoff": [k for _s, k, r, _c in reservation.entries if isinstance(r, BackoffRule)],
            "failures": [
                k
                for _s, k, r, _c in reservation.entries
                if isinstance(r, WindowRule) and r.counts == "failures"
            ],
        }
        if succeeded:
            # Released first: the database store's delete joins the caller's session.
            self.store.release(keys_of["failures"])
            self.store.delete(keys_of["backoff"])
        else:
            self.store.settle(keys_of["backoff"], now)

    def hit(self, slots: Sequence[Slot]) -> int:
        """Count an attempt that has no secret to settle; seconds to wait, 0 to go ahead."""
        return self.reserve(slots).wait

    def clear(self, kind: str, value: str) -> None:
        """Forget a subject's failures and delays (a correct sign-in elsewhere, an unlock)."""
        slot = Slot(kind, value)
        self.store.delete([self.key(slot, self.rule(slot))])

    def count(self, kind: str, value: str) -> int:
        """The current count of a counter (for the counter desk and tests)."""
        slot = Slot(kind, value)
        return self.store.read(self.key(slot, self.rule(slot)), container().now()).count

    def waiting(self, slots: Sequence[Slot]) -> int:
        """Seconds until every window of ``slots`` has room, without counting anything.

        For a cheap answer before work that then reserves (never instead of reserving).
        """
        now = container().now()
        wait = 0
        for slot in slots:
            rule = self.rule(slot)
            if isinstance(rule, WindowRule) and rule.limit > 0:
                counter = self.store.read(self.key(slot, rule), now)
                wait = max(wait, rule.wait(counter.count, now))
        return wait

    @property
    def card_rule(self) -> BackoffRule:
        """The per-card rule (delays and the lock count)."""
        rule = self.rules["card"]
        assert isinstance(rule, BackoffRule)  # noqa: S101 - built by rules_from_settings
        return rule


def build_limiter(settings: Settings, app_secret: str, shared: SharedRedis | None) -> Limiter:
    """A :class:`Limiter` on Redis (with database fallback) or on the database."""
    store: CounterStore = DatabaseStore()
    if shared is not None:
        store = FallbackStore(
            RedisStore(shared, settings.throttle.redis_prefix), DatabaseStore(), shared
        )
    return Limiter(store, rules_from_settings(settings), app_secret)


def limiter() -> Limiter:
    """The limiter of the current application."""
    return container().limiter
