"""The patron store the SIP2 server answers from: an interface and the answer it gives.

The fields of :class:`PatronAnswer` are those SIP2 2.00 puts in the Patron Status Response
(24) and Patron Information Response (64): patron status, valid patron (BL), valid patron
password (CQ), personal name (AE), e-mail address (BE) and screen message (AF).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal
from typing import Protocol
from typing import get_args

from idp.sip2.messages import PATRON_STATUS_FLAGS

PatronReason = Literal[
    "ok",
    "invalid_credentials",
    "temporary_password",
    "temporary_password_expired",
    "card_expired",
    "suspended",
    "locked",
    "throttled",
    "unknown",
]
PATRON_REASONS: frozenset[str] = frozenset(get_args(PatronReason))

#: AF text for a correct temporary password: the seed notice's wording for the e-library.
TEMPORARY_PASSWORD_SCREEN_MESSAGE: Mapping[str, str] = MappingProxyType(
    {
        "ja": "仮パスワードではログインできません。"
        "Myライブラリで仮パスワードを変更してからご利用ください。",
        "en": "You cannot sign in with a temporary password. Please change it in MyLibrary first.",
    }
)


@dataclass(frozen=True)
class PatronAnswer:
    """What the directory says about one card number (and password, when one was given)."""

    #: BL: the card number belongs to a patron.
    valid_patron: bool
    #: CQ: whether the password is right; None when no password was given, and CQ is omitted.
    valid_password: bool | None
    #: Names from :data:`~idp.sip2.messages.PATRON_STATUS_FLAGS` to set to 'Y'.
    status_blocks: frozenset[str] = frozenset()
    #: AE, released only to terminals allowed to see it.
    name: str | None = None
    #: BE, released only to terminals allowed to see it.
    email: str | None = None
    expires_on: dt.date | None = None
    #: AF text by language tag (``"ja"``, ``"en"``); the terminal's language picks one.
    screen_message: dict[str, str] | None = None
    #: Why, for logs and audit; never sent to the terminal.
    reason: PatronReason = "ok"

    def __post_init__(self) -> None:
        unknown = self.status_blocks.difference(PATRON_STATUS_FLAGS)
        if unknown:
            raise ValueError(f"unknown patron status flag(s): {', '.join(sorted(unknown))}")
        if self.reason not in PATRON_REASONS:
            raise ValueError(f"unknown reason {self.reason!r}")
        if self.reason == "ok" and (not self.valid_patron or self.valid_password is False):
            raise ValueError("reason 'ok' needs a valid patron and no wrong password")


class PatronDirectory(Protocol):
    """The credential store, as the SIP2 server needs it.

    The server calls it from one thread per connection, so implementations must be
    thread-safe (e.g. one database session per call).
    """

    def authenticate(
        self,
        card_number: str,
        password: str | None,
        *,
        terminal: str,
        source_ip: str,
    ) -> PatronAnswer:
        """Look up a patron and check the password when one is given.

        Implementations throttle and count failures themselves (per card and per source),
        exactly as for the hosted login page.

        :param card_number: the NFKC-normalised card number from AA.
        :param password: the AD value, or None when the SC sent none (or an empty one).
        :param terminal: the SIP2 login user of the asking terminal.
        :param source_ip: the terminal's address.
        :return: the answer to put on the wire.
        """
        ...
