"""The protocol state of one SIP2 connection, without IO: terminals, limits, answers.

Implements the ACS side of 3M SIP2 2.00 for Login (93/94), SC Status (99/98), Patron Status
(23/24), Patron Information (63/64), End Patron Session (35/36) and the resend messages
(96/97). :mod:`idp.sip2.server` feeds it the bytes of each received message.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from zoneinfo import ZoneInfo

from idp.services.cards.numbers import normalize_card_number
from idp.sip2.directory import PatronDirectory
from idp.sip2.messages import DEFAULT_MAX_MESSAGE_BYTES
from idp.sip2.messages import LANGUAGE_CODES
from idp.sip2.messages import PROTOCOL_VERSION
from idp.sip2.messages import Message
from idp.sip2.messages import MessageError
from idp.sip2.messages import MessageTooLongError
from idp.sip2.messages import UnsupportedMessageError
from idp.sip2.messages import format_message
from idp.sip2.messages import format_patron_status
from idp.sip2.messages import format_sip_datetime
from idp.sip2.messages import format_supported_messages
from idp.sip2.messages import parse_message
from idp.sip2.terminals import Language
from idp.sip2.terminals import Terminal
from idp.sip2.terminals import TerminalLoginGuard
from idp.sip2.terminals import TerminalRegistry
from idp.sip2.terminals import TerminalSettings

__all__ = [
    "SUPPORTED_REQUESTS",
    "Language",
    "Reply",
    "Sip2Options",
    "Sip2Session",
    "Terminal",
    "TerminalLoginGuard",
    "TerminalRegistry",
    "TerminalSettings",
]

logger = logging.getLogger(__name__)

#: Requests this ACS answers, as announced in the ACS Status BX field.
SUPPORTED_REQUESTS = frozenset({"23", "35", "63", "93", "97", "99"})
#: Set for an unknown card, so an SC reading only the status field refuses service too.
_INVALID_PATRON_BLOCKS = frozenset(
    {
        "charge_privileges_denied",
        "renewal_privileges_denied",
        "recall_privileges_denied",
        "hold_privileges_denied",
    }
)
_BLANK_COUNT = "    "  # the IdP holds no circulation data, so every item count is unknown
_FIELD_ID = re.compile(r"[A-Z]{2}")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Sip2Options:
    """Server settings; the defaults suit a production ACS."""

    #: AO sent in responses when the request carries none.
    institution_id: str = ""
    #: AM in the ACS Status response; omitted when empty.
    library_name: str = ""
    #: Simultaneous connections; extra ones are closed at once.
    max_connections: int = 64
    #: Simultaneous connections from one address, so that one source cannot take them all.
    max_connections_per_address: int = 8
    #: Seconds a new connection has to log in (93, or a first request with AC); ACS Status
    #: (99) and other messages before that do not extend it.
    login_timeout: float = 10.0
    #: Seconds without a complete message before the connection is closed.
    idle_timeout: float = 60.0
    #: Longest message accepted, terminator excluded; longer ones close the connection.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: Text encoding agreed with the terminals.
    encoding: str = "utf-8"
    #: Consecutive malformed messages answered with 96 before the connection is closed.
    max_resend_requests: int = 3
    #: Failed logins on one connection before it is closed.
    max_login_failures: int = 3
    #: Zone of the transaction dates sent (local time, as the spec prefers).
    time_zone: dt.tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Tokyo"))
    #: Extension field carrying the card expiry date in 64 (e.g. ``"PA"``); None: not sent,
    #: as SIP2 2.00 defines no such field.
    expiry_field: str | None = None
    #: The current time, timezone-aware; tests pin it.
    clock: Callable[[], dt.datetime] = _utc_now

    def __post_init__(self) -> None:
        limits = (
            self.max_connections,
            self.max_connections_per_address,
            self.max_resend_requests,
            self.max_login_failures,
        )
        if min(limits) < 1:
            raise ValueError("connection, resend and login limits must be at least 1")
        if self.idle_timeout <= 0 or self.login_timeout <= 0:
            raise ValueError("idle_timeout and login_timeout must be positive")
        if self.max_message_bytes < 64:
            raise ValueError("max_message_bytes must be at least 64")
        codecs.lookup(self.encoding)
        if self.expiry_field is not None and not _FIELD_ID.fullmatch(self.expiry_field):
            raise ValueError("expiry_field must be two upper-case letters")


@dataclass(frozen=True)
class Reply:
    """What to do after a received message: bytes to send, then whether to hang up."""

    data: bytes | None
    close: bool = False


def _yes_no(value: bool) -> str:
    return "Y" if value else "N"


def _pick_screen_message(messages: Mapping[str, str] | None, language: str) -> str | None:
    if not messages:
        return None
    for tag in (language, "ja", "en"):
        if messages.get(tag):
            return messages[tag]
    return next((text for text in messages.values() if text), None)


class Sip2Session:
    """The protocol state of one connection, without IO: bytes in, :class:`Reply` out."""

    def __init__(
        self,
        directory: PatronDirectory,
        terminals: TerminalRegistry,
        options: Sip2Options,
        *,
        source_ip: str,
        login_guard: TerminalLoginGuard | None = None,
    ) -> None:
        self._directory = directory
        self._terminals = terminals
        self._options = options
        self._source_ip = source_ip
        self._login_guard = login_guard
        self.terminal: Terminal | None = None
        #: A terminal identified itself (Login, or a request carrying its password in AC).
        self.is_authenticated = False
        self._location: str | None = None
        self._last_reply: bytes | None = None
        self._errors = 0
        self._login_failures = 0
        self._error_detection = True

    def handle(self, raw: bytes) -> Reply:
        """Answer one received message (without its line terminator).

        :raises Exception: whatever the directory raises; the caller closes the connection.
        """
        try:
            request = parse_message(
                raw, encoding=self._options.encoding, max_bytes=self._options.max_message_bytes
            )
        except MessageTooLongError:
            logger.warning("sip2: over-long message, closing ip=%s", self._source_ip)
            return Reply(None, close=True)
        except UnsupportedMessageError as exc:
            logger.warning(
                "sip2: unsupported message, closing ip=%s why=%r", self._source_ip, str(exc)
            )
            return Reply(None, close=True)
        except MessageError as exc:
            return self._request_resend(str(exc))
        self._errors = 0
        self._error_detection = request.has_checksum
        if request.code == "97":
            # "Request ACS Resend": repeat the last response as it was, not a new one.
            return Reply(self._last_reply or self._resend_request())
        if request.code == "93":
            reply = self._login(request)
        elif request.code == "99":
            reply = self._acs_status(request)
        else:
            reply = self._patron_request(request)
        if reply.data is not None:
            self._last_reply = reply.data
        return reply

    def _resend_request(self) -> bytes:
        # 96 "should never include a sequence number field", but a checksum when in use.
        return format_message(
            Message("96"), error_detection=self._error_detection, encoding=self._options.encoding
        )

    def _request_resend(self, why: str) -> Reply:
        self._errors += 1
        if self._errors > self._options.max_resend_requests:
            logger.warning("sip2: repeated bad messages, closing ip=%s", self._source_ip)
            return Reply(None, close=True)
        logger.info("sip2: bad message, asking for a resend ip=%s why=%r", self._source_ip, why)
        return Reply(self._resend_request())

    def _respond(
        self,
        request: Message,
        code: str,
        fixed: dict[str, str],
        fields: list[tuple[str, str]],
        *,
        close: bool = False,
    ) -> Reply:
        message = Message(code, fixed, tuple(fields), request.sequence)
        data = format_message(
            message, error_detection=request.has_checksum, encoding=self._options.encoding
        )
        return Reply(data, close)

    def _now(self) -> str:
        return format_sip_datetime(self._options.clock().astimezone(self._options.time_zone))

    def _login(self, request: Message) -> Reply:
        user = request.get("CN") or ""
        guard = self._login_guard
        # Algorithm "0" is plain text; we support no encryption of the user id or password.
        plain = {request.fixed["uid_algorithm"], request.fixed["pwd_algorithm"]} <= {"0", " "}
        terminal = None
        reason = "throttled"
        if guard is None or guard.check_login(user, self._source_ip):
            terminal = self._terminals.login(user, request.get("CO") or "")
            reason = "invalid" if terminal is None or not plain else "ok"
            if terminal is not None and not terminal.settings.is_allowed_from(self._source_ip):
                reason = "network"
            if guard is not None:
                guard.record_login(user, self._source_ip, is_ok=reason == "ok", reason=reason)
        if reason != "ok" or terminal is None:
            self.terminal = None
            self._login_failures += 1
            logger.warning(
                "sip2: login refused user=%r ip=%s reason=%s", user[:64], self._source_ip, reason
            )
            close = self._login_failures >= self._options.max_login_failures
            return self._respond(request, "94", {"ok": "0"}, [], close=close)
        self.terminal = terminal
        self.is_authenticated = True
        self._location = request.get("CP") or None
        logger.info("sip2: terminal logged in terminal=%s ip=%s", terminal.name, self._source_ip)
        return self._respond(request, "94", {"ok": "1"}, [])

    def _acs_status(self, request: Message) -> Reply:
        options = self._options
        fixed = {
            "online_status": "Y",
            "checkin_ok": "N",
            "checkout_ok": "N",
            "acs_renewal_policy": "N",
            "status_update_ok": "N",
            "offline_ok": "N",
            "timeout_period": "999",  # "999" = unknown
            "retries_allowed": f"{min(options.max_resend_requests, 998):03d}",
            "date_time_sync": self._now(),
            "protocol_version": PROTOCOL_VERSION,
        }
        institution = self.terminal.settings.institution_id if self.terminal else ""
        fields = [("AO", institution or options.institution_id)]
        if options.library_name:
            fields.append(("AM", options.library_name))
        fields.append(("BX", format_supported_messages(SUPPORTED_REQUESTS)))
        if self._location:
            fields.append(("AN", self._location))
        return self._respond(request, "98", fixed, fields)

    def _authorised_terminal(self, request: Message) -> Terminal | None:
        if self.terminal is not None:
            return self.terminal
        terminal_password = request.get("AC")
        if not terminal_password:
            return None
        guard = self._login_guard
        if guard is not None and not guard.check_login("", self._source_ip):
            return None
        terminal = self._terminals.by_terminal_password(terminal_password)
        reason = "invalid" if terminal is None else "ok"
        if terminal is not None and not terminal.settings.is_allowed_from(self._source_ip):
            reason = "network"
        if reason == "ok":
            self.is_authenticated = True
            return terminal
        if guard is not None:
            # Only failures: a terminal without login identifies itself in every request.
            user = terminal.name if terminal is not None else ""
            guard.record_login(user, self._source_ip, is_ok=False, reason=reason)
        return None

    def _patron_request(self, request: Message) -> Reply:
        terminal = self._authorised_terminal(request)
        if terminal is None:
            logger.warning(
                "sip2: request without login, closing code=%s ip=%s", request.code, self._source_ip
            )
            return Reply(None, close=True)
        institution = (
            request.get("AO") or terminal.settings.institution_id or self._options.institution_id
        )
        patron_id = request.get("AA") or ""
        if request.code == "35":
            fixed = {"end_session": "Y", "transaction_date": self._now()}
            return self._respond(request, "36", fixed, [("AO", institution), ("AA", patron_id)])
        return self._patron_answer(request, terminal, institution, patron_id)

    def _patron_answer(
        self, request: Message, terminal: Terminal, institution: str, patron_id: str
    ) -> Reply:
        settings = terminal.settings
        is_information = request.code == "63"
        answer = self._directory.authenticate(
            normalize_card_number(patron_id),
            request.get("AD") or None,
            terminal=terminal.name,
            source_ip=self._source_ip,
        )
        logger.info(
            "sip2: patron request code=%s terminal=%s ip=%s reason=%s",
            request.code,
            terminal.name,
            self._source_ip,
            answer.reason,
        )
        blocks = answer.status_blocks
        if not answer.valid_patron:
            blocks = blocks | _INVALID_PATRON_BLOCKS
        fixed = {
            "patron_status": format_patron_status(blocks),
            "language": LANGUAGE_CODES[settings.language],
            "transaction_date": self._now(),
        }
        if is_information:
            for name in ("hold", "overdue", "charged", "fine", "recall"):
                fixed[f"{name}_items_count"] = _BLANK_COUNT
            fixed["unavailable_holds_count"] = _BLANK_COUNT
        name = answer.name if settings.is_name_released and answer.name else ""
        fields = [("AO", institution), ("AA", patron_id), ("AE", name)]
        fields.append(("BL", _yes_no(answer.valid_patron)))
        if answer.valid_password is not None:
            fields.append(("CQ", _yes_no(answer.valid_password)))
        if is_information and settings.is_email_released and answer.email:
            fields.append(("BE", answer.email))
        screen_message = _pick_screen_message(answer.screen_message, settings.language)
        if screen_message:
            fields.append(("AF", screen_message))
        expiry_field = self._options.expiry_field
        if is_information and expiry_field and answer.expires_on:
            end_of_day = dt.datetime.combine(answer.expires_on, dt.time(23, 59, 59))
            fields.append((expiry_field, format_sip_datetime(end_of_day)))
        return self._respond(request, "64" if is_information else "24", fixed, fields)
