"""The credential check for relying parties that keep their own login form.

Some e-book and e-resource vendors show their own form ("利用者IDに貸出カードの番号、
パスワードにMyライブラリのパスワード") and ask the library whether the pair is right. This
service answers them from the same credential store and with the same rules as the
hosted login: :func:`idp.services.signin.check_patron` does the checking and the audit,
with the same counters, so a guess through a vendor counts exactly like a guess on our form.

It is *not* the resource owner password credentials grant that RFC 9700 §2.4 says MUST
NOT be used: no token is ever issued for the patron, only a yes or no (and, when yes, the
claims this registered, confidential client may see); the caller authenticates as a
client with its own client-credentials token and a scope that is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list

from idp.models.client import Client
from idp.models.patron import Patron
from idp.services.allowance import Allowance
from idp.services.claims import claims_for
from idp.services.signin import SignInOutcome
from idp.services.signin import Source
from idp.services.signin import check_patron

#: The scope a client-credentials token needs to call the credential check.
SCOPE = "patron:authenticate"


@dataclass(frozen=True)
class CredentialCheck:
    """The answer to one credential check."""

    #: The sign-in outcome; its value is the answer's ``reason`` on the wire.
    reason: SignInOutcome
    #: The claims the client may see; only when :attr:`valid`.
    claims: dict[str, Any] | None = None
    #: For THROTTLED: seconds until the next attempt for this card or source is allowed.
    retry_after: int = 0

    @property
    def valid(self) -> bool:
        """True when the card and password are right and the patron may sign in now."""
        return self.reason is SignInOutcome.OK

    def as_json(self) -> dict[str, Any]:
        """The JSON body of the API answer."""
        body: dict[str, Any] = {"valid": self.valid, "reason": self.reason.value}
        if self.claims is not None:
            body["claims"] = self.claims
        if self.reason is SignInOutcome.THROTTLED:
            body["retry_after"] = self.retry_after
        return body


def granted_scope(client: Client, token_scope: str) -> str:
    """The token's scopes the client is (still) registered for: what decides the claims."""
    allowed = set(client.scopes)
    return " ".join(s for s in scope_to_list(token_scope or "") if s in allowed)


def allowance_of(client: Client, patron_ip: str | None) -> Allowance | None:
    """The client's allowance from its file, or None when it has none.

    Without ``patron_ip`` the allowance replaces the per-address limits of the client's
    server. With it, the per-address limits of the patron's address apply as before *and*
    the allowance bounds the client's total: the client could name any address, so the
    allowance is what keeps a client that rotates ``patron_ip`` from spraying unbounded.
    """
    if client.checks_per_minute is None and client.failures_per_day is None:
        return None
    return Allowance(
        f"client:{client.client_id}",
        client.checks_per_minute,
        client.failures_per_day,
        is_address_limited=patron_ip is not None,
    )


def check_credentials(
    client: Client,
    token_scope: str,
    card_number: str,
    password: str,
    *,
    caller_ip: str | None,
    patron_ip: str | None = None,
    user_agent: str | None = None,
) -> CredentialCheck:
    """Check a card number and password for ``client``, count it, and audit it.

    :param client: the registered client that asks (authenticated by its token).
    :param token_scope: the scope of the client's access token; decides the claims.
    :param caller_ip: the address of the client's server (audited).
    :param patron_ip: the patron's address as the client saw it, when it says so; the
        per-source throttle counts this address instead of the client's own server.
        A client with an allowance (:func:`allowance_of`) counts against the allowance
        instead of its server's address, and in addition to ``patron_ip``'s limits.
    :return: the reason, and the claims when valid (audited by the core, channel ``api``).
    """
    result = check_patron(
        card_number,
        password,
        channel="api",
        source=Source(
            ip=patron_ip or caller_ip,
            user_agent=user_agent,
            allowance=allowance_of(client, patron_ip),
            client_id=client.client_id,
            audit_ip=caller_ip,
            detail={"patron_ip": patron_ip},
        ),
    )
    patron: Patron | None = result.patron
    claims = None
    if result.outcome is SignInOutcome.OK and patron is not None:
        claims = claims_for(patron, client, granted_scope(client, token_scope))
    return CredentialCheck(result.outcome, claims, result.retry_after)
