"""An in-memory :class:`~idp.sip2.directory.PatronDirectory` for the SIP2 tests."""

from __future__ import annotations

import datetime as dt
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from idp.sip2.directory import PatronAnswer

#: Blocks a suspended or expired card gets.
REFUSED_BLOCKS = frozenset(
    {
        "charge_privileges_denied",
        "renewal_privileges_denied",
        "recall_privileges_denied",
        "hold_privileges_denied",
    }
)


@dataclass(frozen=True)
class StaticPatron:
    """One patron of the static directory."""

    password: str
    is_temporary_password: bool = False
    is_suspended: bool = False
    name: str | None = None
    email: str | None = None
    expires_on: dt.date | None = None


@dataclass(frozen=True)
class DirectoryCall:
    """The arguments of one ``authenticate`` call, as the server passed them."""

    card_number: str
    password: str | None
    terminal: str
    source_ip: str


class StaticDirectory:
    """Patrons from a mapping of card number → :class:`StaticPatron`; records every call."""

    def __init__(
        self,
        patrons: Mapping[str, StaticPatron],
        *,
        today: dt.date = dt.date(2026, 4, 1),
        error: Exception | None = None,
    ) -> None:
        self.patrons = dict(patrons)
        self.today = today
        #: Raised by ``authenticate`` when set, to test the server's failure handling.
        self.error = error
        self._lock = threading.Lock()
        self._calls: list[DirectoryCall] = []

    @property
    def calls(self) -> list[DirectoryCall]:
        with self._lock:
            return list(self._calls)

    def authenticate(
        self,
        card_number: str,
        password: str | None,
        *,
        terminal: str,
        source_ip: str,
    ) -> PatronAnswer:
        with self._lock:
            self._calls.append(DirectoryCall(card_number, password, terminal, source_ip))
        if self.error is not None:
            raise self.error
        patron = self.patrons.get(card_number)
        if patron is None:
            return PatronAnswer(False, None if password is None else False, reason="unknown")
        details = {"name": patron.name, "email": patron.email, "expires_on": patron.expires_on}
        if password is not None and not hmac.compare_digest(
            password.encode(), patron.password.encode()
        ):
            return PatronAnswer(True, False, reason="invalid_credentials", **details)
        valid_password = None if password is None else True
        if patron.is_suspended:
            return PatronAnswer(True, valid_password, REFUSED_BLOCKS, reason="suspended", **details)
        if patron.expires_on is not None and patron.expires_on < self.today:
            return PatronAnswer(
                True, valid_password, REFUSED_BLOCKS, reason="card_expired", **details
            )
        if password is not None and patron.is_temporary_password:
            return PatronAnswer(
                True,
                False,
                screen_message=dict(TEMPORARY_PASSWORD_SCREEN_MESSAGE),
                reason="temporary_password",
                **details,
            )
        return PatronAnswer(True, valid_password, reason="ok", **details)
