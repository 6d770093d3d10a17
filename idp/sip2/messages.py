"""SIP2 messages: framing, fixed and variable fields, checksum (AZ) and sequence number (AY).

Implements 3M Standard Interchange Protocol Version 2.00: the message format (a two-digit
identifier, the fixed-length fields, then variable-length fields written as a two-character
field identifier, the value and the delimiter ``|``), "Checksums and Sequence Numbers", and the
field layouts of the messages patron authentication needs: Login 93/94, SC Status 99 /
ACS Status 98, Patron Status Request 23/24, Patron Information 63/64, End Patron Session
35/36, Request ACS Resend 97 and Request SC Resend 96.

Text is encoded with a configurable codec (UTF-8 by default, so Japanese screen messages
travel intact); the checksum is computed over the bytes sent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType

FIELD_DELIMITER = "|"
#: "Each message must be terminated by a carriage return"; we accept LF and CRLF too.
MESSAGE_TERMINATOR = b"\r"
DEFAULT_MAX_MESSAGE_BYTES = 4096
PROTOCOL_VERSION = "2.00"

#: The spec's table of 3-digit codes for the ``language`` fixed field.
LANGUAGES: Mapping[str, str] = MappingProxyType(
    {
        "000": "Unknown (default)",
        "001": "English",
        "002": "French",
        "003": "German",
        "004": "Italian",
        "005": "Dutch",
        "006": "Swedish",
        "007": "Finnish",
        "008": "Spanish",
        "009": "Danish",
        "010": "Portuguese",
        "011": "Canadian-French",
        "012": "Norwegian",
        "013": "Hebrew",
        "014": "Japanese",
        "015": "Russian",
        "016": "Arabic",
        "017": "Polish",
        "018": "Greek",
        "019": "Chinese",
        "020": "Korean",
        "021": "North American Spanish",
        "022": "Tamil",
        "023": "Malay",
        "024": "United Kingdom",
        "025": "Icelandic",
        "026": "Belgian",
        "027": "Taiwanese",
    }
)
UNKNOWN_LANGUAGE = "000"
#: Our UI language tags and their SIP2 language codes.
LANGUAGE_CODES: Mapping[str, str] = MappingProxyType({"en": "001", "ja": "014"})

#: The 14 positions of the ``patron status`` field, in the spec's order; 'Y' means denied or
#: exceeded, a space means not.
PATRON_STATUS_FLAGS: tuple[str, ...] = (
    "charge_privileges_denied",
    "renewal_privileges_denied",
    "recall_privileges_denied",
    "hold_privileges_denied",
    "card_reported_lost",
    "too_many_items_charged",
    "too_many_items_overdue",
    "too_many_renewals",
    "too_many_claims_of_items_returned",
    "too_many_items_lost",
    "excessive_outstanding_fines",
    "excessive_outstanding_fees",
    "recall_overdue",
    "too_many_items_billed",
)

#: The 16 positions of the ACS Status ``supported messages`` (BX) field, by request code.
SUPPORTED_MESSAGES_ORDER: tuple[str, ...] = (
    "23",  # patron status request
    "11",  # checkout
    "09",  # checkin
    "01",  # block patron
    "99",  # SC/ACS status
    "97",  # request SC/ACS resend
    "93",  # login
    "63",  # patron information
    "35",  # end patron session
    "37",  # fee paid
    "17",  # item information
    "19",  # item status update
    "25",  # patron enable
    "15",  # hold
    "29",  # renew
    "65",  # renew all
)

_DATE = (("transaction_date", 18),)
#: Fixed-length fields of each message we read or write, in order, with their lengths.
FIXED_FIELDS: Mapping[str, tuple[tuple[str, int], ...]] = MappingProxyType(
    {
        "93": (("uid_algorithm", 1), ("pwd_algorithm", 1)),
        "94": (("ok", 1),),
        "99": (("status_code", 1), ("max_print_width", 3), ("protocol_version", 4)),
        "98": (
            ("online_status", 1),
            ("checkin_ok", 1),
            ("checkout_ok", 1),
            ("acs_renewal_policy", 1),
            ("status_update_ok", 1),
            ("offline_ok", 1),
            ("timeout_period", 3),
            ("retries_allowed", 3),
            ("date_time_sync", 18),
            ("protocol_version", 4),
        ),
        "23": (("language", 3), *_DATE),
        "24": (("patron_status", 14), ("language", 3), *_DATE),
        "63": (("language", 3), *_DATE, ("summary", 10)),
        "64": (
            ("patron_status", 14),
            ("language", 3),
            *_DATE,
            ("hold_items_count", 4),
            ("overdue_items_count", 4),
            ("charged_items_count", 4),
            ("fine_items_count", 4),
            ("recall_items_count", 4),
            ("unavailable_holds_count", 4),
        ),
        "35": _DATE,
        "36": (("end_session", 1), *_DATE),
        "96": (),
        "97": (),
    }
)
#: Variable fields without which a received request cannot be answered.
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"93": ("CN", "CO"), "23": ("AA",), "63": ("AA",), "35": ("AA",)}
)

_CHECKSUM = re.compile(rb"AZ([0-9A-Fa-f]{1,4})\Z")
_SEQUENCE = re.compile(r"AY([0-9])\Z")
_FIELD_ID = re.compile(r"[A-Za-z]{2}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f|]")


class MessageError(ValueError):
    """A received message is malformed; the ACS answers with Request SC Resend (96)."""


class ChecksumError(MessageError):
    """The AZ checksum of a received message does not match its content."""


class MessageTooLongError(MessageError):
    """A received message is longer than the configured cap."""


class UnsupportedMessageError(MessageError):
    """A well-formed message whose identifier this ACS does not handle."""


@dataclass(frozen=True)
class Message:
    """One SIP2 message: identifier, fixed fields by name, variable fields in order."""

    code: str
    fixed: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[tuple[str, str], ...] = ()
    #: The AY sequence number (0-9), echoed in the response.
    sequence: int | None = None
    #: True when the message arrived with a (verified) AZ checksum.
    has_checksum: bool = False

    def get(self, field_id: str) -> str | None:
        """The value of the first ``field_id`` field, or None when absent."""
        return next((value for fid, value in self.fields if fid == field_id), None)


def checksum(data: bytes) -> str:
    """The AZ value for ``data``: two's complement of the 16-bit sum of its bytes, 4 hex digits.

    :param data: everything from the first character up to and including ``AZ``.
    :return: four upper-case hex digits.
    """
    return f"{-sum(data) & 0xFFFF:04X}"


def _strip_terminator(data: bytes) -> bytes:
    for ending in (b"\r\n", b"\r", b"\n"):
        if data.endswith(ending):
            return data[: -len(ending)]
    return data


def _checksum_matches(covered: bytes, received: int, encoding: str) -> bool:
    if received == -sum(covered) & 0xFFFF:
        return True
    # Some clients (the PyPI ``sip2`` package among them) sum code points, not bytes.
    try:
        text = covered.decode(encoding)
    except UnicodeDecodeError:
        return False
    return received == -sum(map(ord, text)) & 0xFFFF


def parse_message(
    data: bytes,
    *,
    encoding: str = "utf-8",
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Message:
    """Parse one received message, verifying its checksum when it has one.

    :param data: the message, with or without its CR, LF or CRLF terminator.
    :param encoding: the text encoding agreed with the SC.
    :param max_bytes: the longest message accepted, terminator excluded.
    :return: the parsed message.
    :raises MessageTooLongError: above ``max_bytes``.
    :raises ChecksumError: when AZ does not match.
    :raises UnsupportedMessageError: for an identifier without a known layout.
    :raises MessageError: for anything else malformed.
    """
    body, has_checksum = _verified_body(data, encoding, max_bytes)
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MessageError(f"message is not valid {encoding}") from exc
    if any(ch < " " or ch == "\x7f" for ch in text):
        raise MessageError("control character inside the message")
    sequence = None
    seq_match = _SEQUENCE.search(text)
    if seq_match is not None:
        sequence = int(seq_match.group(1))
        text = text[: seq_match.start()]
    code = text[:2]
    if not (len(code) == 2 and code.isascii() and code.isdigit()):
        raise MessageError("no two-digit message identifier")
    fixed, position = _fixed_fields(code, text)
    message = Message(code, fixed, _variable_fields(text[position:]), sequence, has_checksum)
    missing = [fid for fid in REQUIRED_FIELDS.get(code, ()) if message.get(fid) is None]
    if missing:
        raise MessageError(f"message {code} lacks required field(s) {', '.join(missing)}")
    return message


def _verified_body(data: bytes, encoding: str, max_bytes: int) -> tuple[bytes, bool]:
    """The message without terminator and checksum, and whether it had a checksum."""
    body = _strip_terminator(data)
    if len(body) > max_bytes:
        raise MessageTooLongError(f"message longer than {max_bytes} bytes")
    match = _CHECKSUM.search(body)
    if match is None:
        return body, False
    # Clients that format the sum with "%X" drop leading zeros, hence 1-4 digits.
    if not _checksum_matches(body[: match.start(1)], int(match.group(1), 16), encoding):
        raise ChecksumError("checksum mismatch")
    return body[: match.start()], True


def _fixed_fields(code: str, text: str) -> tuple[dict[str, str], int]:
    """The fixed-length fields of message ``code`` and where the variable ones start."""
    layout = FIXED_FIELDS.get(code)
    if layout is None:
        raise UnsupportedMessageError(f"message {code} is not supported")
    fixed: dict[str, str] = {}
    position = 2
    for name, length in layout:
        value = text[position : position + length]
        if len(value) != length or FIELD_DELIMITER in value:
            raise MessageError(f"fixed field {name} is incomplete")
        fixed[name] = value
        position += length
    return fixed, position


def _variable_fields(text: str) -> tuple[tuple[str, str], ...]:
    """The ``|``-separated variable fields: two-letter identifier and value."""
    fields: list[tuple[str, str]] = []
    for segment in text.split(FIELD_DELIMITER):
        if not segment:
            continue
        if not _FIELD_ID.fullmatch(segment[:2]):
            raise MessageError("variable field without a two-letter identifier")
        fields.append((segment[:2], segment[2:]))
    return tuple(fields)


def format_message(
    message: Message,
    *,
    error_detection: bool = True,
    encoding: str = "utf-8",
) -> bytes:
    """Serialise a message, appending AY (when it has a sequence number) and AZ.

    Variable field values lose ``|`` and control characters, which would break framing;
    characters the encoding cannot carry become ``?``.

    :param message: the message; its fixed fields must have the layout's exact lengths.
    :param error_detection: append the AZ checksum.
    :param encoding: the text encoding agreed with the SC.
    :return: the bytes to send, ending with CR.
    :raises ValueError: for an unknown identifier or fixed fields not matching the layout.
    """
    layout = FIXED_FIELDS.get(message.code)
    if layout is None:
        raise ValueError(f"no layout for message {message.code!r}")
    if set(message.fixed) != {name for name, _ in layout}:
        raise ValueError(f"fixed fields of message {message.code} do not match its layout")
    parts = [message.code]
    for name, length in layout:
        value = message.fixed[name]
        if len(value) != length or _UNSAFE.search(value):
            raise ValueError(f"fixed field {name} must be {length} plain characters")
        parts.append(value)
    for field_id, value in message.fields:
        if not _FIELD_ID.fullmatch(field_id):
            raise ValueError(f"bad field identifier {field_id!r}")
        parts.append(f"{field_id}{_UNSAFE.sub('', value)}{FIELD_DELIMITER}")
    if message.sequence is not None:
        if not 0 <= message.sequence <= 9:
            raise ValueError("sequence number must be 0-9")
        parts.append(f"AY{message.sequence}")
    data = "".join(parts).encode(encoding, errors="replace")
    if error_detection:
        data += b"AZ"
        data += checksum(data).encode("ascii")
    return data + MESSAGE_TERMINATOR


def format_sip_datetime(moment: dt.datetime) -> str:
    """Format ``YYYYMMDDZZZZHHMMSS`` as local time: ZZZZ blank, as the spec prefers.

    :param moment: the wall-clock time to show (convert to the library's zone first).
    :return: 18 characters.
    """
    return moment.strftime("%Y%m%d    %H%M%S")


def format_patron_status(blocks: Iterable[str]) -> str:
    """The 14-character patron status field: 'Y' at each named position, else a space.

    :param blocks: names from :data:`PATRON_STATUS_FLAGS`.
    :raises ValueError: for an unknown name.
    """
    wanted = set(blocks)
    unknown = wanted.difference(PATRON_STATUS_FLAGS)
    if unknown:
        raise ValueError(f"unknown patron status flag(s): {', '.join(sorted(unknown))}")
    return "".join("Y" if name in wanted else " " for name in PATRON_STATUS_FLAGS)


def format_supported_messages(codes: Iterable[str]) -> str:
    """The 16-character BX field: 'Y' for each supported request code, else 'N'."""
    supported = set(codes)
    return "".join("Y" if code in supported else "N" for code in SUPPORTED_MESSAGES_ORDER)
