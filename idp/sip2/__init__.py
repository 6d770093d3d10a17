"""SIP2 (3M Standard Interchange Protocol 2.00) ACS answering patron authentication.

E-book vendors, self-check machines and proxies verify a patron over SIP2; this package
answers them from the IdP's credential store through :class:`PatronDirectory`.
"""

from __future__ import annotations

from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from idp.sip2.directory import PatronAnswer
from idp.sip2.directory import PatronDirectory
from idp.sip2.directory import PatronReason
from idp.sip2.messages import PATRON_STATUS_FLAGS
from idp.sip2.messages import ChecksumError
from idp.sip2.messages import Message
from idp.sip2.messages import MessageError
from idp.sip2.messages import MessageTooLongError
from idp.sip2.messages import UnsupportedMessageError
from idp.sip2.messages import checksum
from idp.sip2.messages import format_message
from idp.sip2.messages import parse_message
from idp.sip2.server import Sip2Server
from idp.sip2.session import Sip2Options
from idp.sip2.session import Sip2Session
from idp.sip2.terminals import TerminalSettings

__all__ = [
    "PATRON_STATUS_FLAGS",
    "TEMPORARY_PASSWORD_SCREEN_MESSAGE",
    "ChecksumError",
    "Message",
    "MessageError",
    "MessageTooLongError",
    "PatronAnswer",
    "PatronDirectory",
    "PatronReason",
    "Sip2Options",
    "Sip2Server",
    "Sip2Session",
    "TerminalSettings",
    "UnsupportedMessageError",
    "checksum",
    "format_message",
    "parse_message",
]
