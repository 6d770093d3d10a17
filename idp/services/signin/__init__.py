"""The sign-in core: every password check of every channel, its limits and its audit.

One function checks a card number and a password, for every channel:
:func:`check_patron` (``channel`` is ``web`` for the hosted login, ``password_change``,
``email_change``, ``api`` for ``POST /api/patrons/authenticate``, ``sip2`` for Patron
Status/Information with a PIN, …). It

1. refuses a locked card (:mod:`~idp.services.signin.lockout`, durable in the database);
2. **reserves** one slot in every counter that applies — the card, the source address
   and its network (per minute, failures per day), or a registered caller's allowance —
   in one atomic step of the store (:class:`~idp.services.signin.limiter.Limiter`: one
   Lua script on Redis, one ``INSERT … ON CONFLICT … DO UPDATE … RETURNING`` on its own
   short transaction on PostgreSQL/SQLite), and decides on the values that step
   returned: a refusal gives the slots back and answers THROTTLED without checking;
3. checks the password (Argon2; nowhere else in the code base for patrons);
4. **settles**: a failure keeps its slots and counts toward the delays and the lock, a
   success gives back the per-day failure slots and clears the card's counters;
5. audits the outcome (:data:`~idp.services.signin.outcomes.AUDIT_EVENTS`, with the
   channel); no caller writes a sign-in audit line of its own. A refusal (locked,
   throttled, wrong) is written with the failure it counts in a short transaction of its
   own (:func:`refusal`), so that it stands whatever the request does next; what a right
   password changes is left to the face (view, command, SIP2 message), which commits.

Every channel maps from one enum, :class:`~idp.services.signin.outcomes.SignInOutcome`,
whose patron-facing texts are in :func:`~idp.services.signin.outcomes.message_for`.

Passkeys
--------
:func:`~idp.services.signin.passkey.check_passkey` is the same for a WebAuthn assertion:
the per-source counters and one per credential, the card's refusals by
:func:`refusal_reason` exactly as for a password, the audit line with channel
``passkey``.

Other subject kinds
-------------------
:func:`check_password` (over :func:`check_secret`, the layer under :func:`check_patron`)
serves any other kind of account that signs in with a password — e.g. staff accounts
keyed by their user name::

    check = check_password(
        "staff", username, stored_hash, password,
        source=Source(**caller_facts()),  # the face passes the request facts in
    )
    outcome = (SignInOutcome.THROTTLED if check.is_right is None
               else SignInOutcome.OK if check.is_right else SignInOutcome.INVALID_CREDENTIALS)
    record_outcome(outcome, channel="staff", source=source, subject=username)
    # check.failures: consecutive failures, to lock the account at the caller's limit

The subject's counters are keyed by its kind (``staff:<hmac>``), so they never mix with
a card's; a kind without a rule of its own gets the per-card rule (``IDP_THROTTLE_CARD_*``),
and the per-source counters are shared with every other channel. The same limiter also
counts the checks that have no password to settle (:meth:`Limiter.hit`): the re-issue
form (``IDP_REISSUE_*``), the desk's card verification (``IDP_CARD_VERIFY_*``), SIP2
look-ups without a PIN and terminal logins.
"""

from __future__ import annotations

from idp.services.signin.core import MAX_PASSWORD_INPUT
from idp.services.signin.core import SecretCheck
from idp.services.signin.core import SignInResult
from idp.services.signin.core import Source
from idp.services.signin.core import check_password
from idp.services.signin.core import check_patron
from idp.services.signin.core import check_secret
from idp.services.signin.core import matches_current_password
from idp.services.signin.core import record_outcome
from idp.services.signin.core import refusal
from idp.services.signin.limiter import Limiter
from idp.services.signin.limiter import Slot
from idp.services.signin.limiter import limiter
from idp.services.signin.limiter import source_slots
from idp.services.signin.lockout import unlock_card
from idp.services.signin.lockout import unlock_patron
from idp.services.signin.outcomes import SignInOutcome
from idp.services.signin.outcomes import message_for
from idp.services.signin.outcomes import refusal_reason
from idp.services.signin.passkey import PasskeyResult
from idp.services.signin.passkey import check_passkey

__all__ = [
    "MAX_PASSWORD_INPUT",
    "Limiter",
    "PasskeyResult",
    "SecretCheck",
    "SignInOutcome",
    "SignInResult",
    "Slot",
    "Source",
    "check_passkey",
    "check_password",
    "check_patron",
    "check_secret",
    "limiter",
    "matches_current_password",
    "message_for",
    "record_outcome",
    "refusal",
    "refusal_reason",
    "source_slots",
    "unlock_card",
    "unlock_patron",
]
