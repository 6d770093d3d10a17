"""The EZproxy external-script check: card number and password → ``+VALID`` or not.

OCLC EZproxy can ask an outside script whether a login is valid (``user.txt``)::

    ::external=https://idp.example.org/ezproxy/check?secret=…,post=user=^u&pass=^p&ip=^i,valid=+VALID

EZproxy posts the form fields ``user`` (``^u``, the card number), ``pass`` (``^p``) and,
optionally, ``ip`` (``^i``, the patron's address), and treats the login as valid when the
answer *contains* the valid string, compared case-insensitively (``webchkpass`` counts
too). So every answer but the valid one says ``-INVALID``, which contains neither.

The check goes through :func:`idp.services.signin.check_patron` with channel ``ezproxy``:
the same counters, lock, audit and card-state rules as the hosted login, so ``+VALID``
only for an active patron whose password is right and permanent. EZproxy sends every
patron's check from its one server, so that server counts against its own allowance
(``IDP_EZPROXY_CHECKS_PER_MINUTE``, ``IDP_EZPROXY_FAILURES_PER_DAY``) instead of the
per-address limits; when it names the patron's address, that address's limits apply too.

Only configured callers may ask: the shared secret ``IDP_EZPROXY_SECRET`` (in the
``X-EZproxy-Secret`` header or the ``secret`` URL parameter) *and* an address in
``IDP_EZPROXY_NETWORKS``. With no secret configured the endpoint does not exist.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from idp.services.allowance import Allowance
from idp.services.networks import address_in
from idp.services.signin import SignInOutcome
from idp.services.signin import Source
from idp.services.signin import check_patron
from idp.settings import Settings

#: The string EZproxy looks for (``valid=+VALID`` in ``user.txt``).
VALID = "+VALID"
#: Every other answer: contains neither ``+valid`` nor ``webchkpass`` in any case.
INVALID = "-INVALID"
#: The audit channel and the caller's counter key.
CHANNEL = "ezproxy"
#: Shortest shared secret accepted.
MIN_SECRET = 32

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EzproxySettings:
    """Who may call the check, and the caller's allowance."""

    secret: str
    networks: tuple[Network, ...]
    allowance: Allowance

    @property
    def is_enabled(self) -> bool:
        """False without a shared secret: the endpoint answers 404."""
        return bool(self.secret)

    def admits(self, presented: str | None, address: str | None) -> bool:
        """Whether a caller with this secret and address may ask (constant-time compare)."""
        if not self.secret or not presented:
            return False
        right = hmac.compare_digest(presented.encode(), self.secret.encode())
        return address_in(address, self.networks) and right


def from_settings(settings: Settings) -> EzproxySettings:
    """The ``IDP_EZPROXY_*`` settings in the form the check uses (checked at start)."""
    section = settings.ezproxy
    allowance = Allowance(f"{CHANNEL}:server", section.checks_per_minute, section.failures_per_day)
    return EzproxySettings(section.secret, section.networks, allowance)


def check_login(
    settings: EzproxySettings,
    card_number: str,
    password: str,
    *,
    caller_ip: str | None,
    patron_ip: str | None,
    user_agent: str | None,
) -> tuple[SignInOutcome, int]:
    """Check one EZproxy login through the sign-in core (audited there, channel ``ezproxy``).

    :return: the outcome and, for THROTTLED, the seconds until the next attempt.
    """
    allowance = Allowance(
        settings.allowance.key,
        settings.allowance.checks_per_minute,
        settings.allowance.failures_per_day,
        is_address_limited=patron_ip is not None,
    )
    result = check_patron(
        card_number,
        password,
        channel=CHANNEL,
        source=Source(
            ip=patron_ip or caller_ip,
            user_agent=user_agent,
            allowance=allowance,
            audit_ip=caller_ip,
            detail={"patron_ip": patron_ip},
        ),
    )
    return result.outcome, result.retry_after


def answer_for(outcome: SignInOutcome) -> str:
    """The body EZproxy reads: ``+VALID`` only for OK, else ``-INVALID`` and the reason."""
    if outcome is SignInOutcome.OK:
        return VALID + "\n"
    return f"{INVALID} {outcome.value}\n"
