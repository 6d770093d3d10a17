"""SIP2 2.00 messages: checksum, sequence number, fixed and variable fields, framing."""

from __future__ import annotations

import datetime as dt

import pytest

from idp.sip2.messages import LANGUAGE_CODES
from idp.sip2.messages import LANGUAGES
from idp.sip2.messages import PATRON_STATUS_FLAGS
from idp.sip2.messages import ChecksumError
from idp.sip2.messages import Message
from idp.sip2.messages import MessageError
from idp.sip2.messages import MessageTooLongError
from idp.sip2.messages import UnsupportedMessageError
from idp.sip2.messages import checksum
from idp.sip2.messages import format_message
from idp.sip2.messages import format_patron_status
from idp.sip2.messages import format_sip_datetime
from idp.sip2.messages import format_supported_messages
from idp.sip2.messages import parse_message
from tests.sip2_status import parse_patron_status

DATE = "20260401    093000"


def signed(text: str, encoding: str = "utf-8") -> bytes:
    """``text`` with its AZ checksum appended (no terminator)."""
    data = (text + "AZ").encode(encoding)
    return data + checksum(data).encode()


@pytest.mark.parametrize(
    ("covered", "expected"),
    [
        ("9900302.00AY1AZ", "FCA5"),  # SC Status, protocol 2.00, sequence 1
        ("96AZ", "FEF6"),  # Request SC Resend
        # Block Patron as third-party SIP2 libraries encode it (jsip2's test vector).
        ("01Y19700101    010000AAPatron|ACPassword|ALMessage|AOInstitution|AY0AZ", "E964"),
        ("3720180723    0946110102USDBV2.34|AOBanjo|AApaul|AC|ADfoo|AY0AZ", "EE70"),
    ],
)
def test_checksum_matches_known_messages(covered: str, expected: str) -> None:
    assert checksum(covered.encode()) == expected
    # "Add all the characters including the checksum: the total is zero" (16 bits).
    assert (sum(covered.encode()) + int(expected, 16)) & 0xFFFF == 0


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n", b""])
def test_parse_login_with_any_line_ending(ending: bytes) -> None:
    message = parse_message(signed("9300CNterm|COpass|CPloc|AY1") + ending)
    assert message.code == "93"
    assert message.fixed == {"uid_algorithm": "0", "pwd_algorithm": "0"}
    assert message.fields == (("CN", "term"), ("CO", "pass"), ("CP", "loc"))
    assert message.sequence == 1
    assert message.has_checksum


def test_parse_sc_status_from_the_spec() -> None:
    message = parse_message(b"9900302.00AY1AZFCA5\r")
    assert message.fixed == {
        "status_code": "0",
        "max_print_width": "030",
        "protocol_version": "2.00",
    }


def test_parse_patron_status_request_without_error_detection() -> None:
    message = parse_message(b"2300120060101    084237AOUWOLS|AAdjfiander|AD6789|AC|\r")
    assert message.fixed == {"language": "001", "transaction_date": "20060101    084237"}
    assert message.get("AA") == "djfiander"
    assert message.get("AD") == "6789"
    assert message.get("AC") == ""
    assert message.get("BP") is None
    assert message.sequence is None
    assert not message.has_checksum


def test_parse_patron_information_request() -> None:
    text = f"63014{DATE}  Y       AOLIB|AA0300000001|AC|AD4321|BP1|BQ5|AY3"
    message = parse_message(signed(text) + b"\r")
    assert message.fixed["summary"] == "  Y       "
    assert message.get("BQ") == "5"
    assert message.sequence == 3


def test_parse_keeps_repeated_fields_in_order() -> None:
    message = parse_message(b"9300CNa|COb|AFone|AFtwo|\r")
    assert [value for fid, value in message.fields if fid == "AF"] == ["one", "two"]
    assert message.get("AF") == "one"


def test_parse_accepts_lower_case_and_short_checksums() -> None:
    # The PyPI sip2 client writes the sum with "%X", dropping leading zeros.
    for index in range(2000):
        text = f"9300CNterm|COpass|CPloc{index}|AY1AZ"
        value = -sum(text.encode()) & 0xFFFF
        if value < 0x1000:
            break
    message = parse_message(f"{text}{value:x}\r".encode())
    assert message.get("CP") == f"loc{index}"


def test_parse_accepts_checksums_over_code_points() -> None:
    text = "9300CNterm|COpass|CP中央図書館|AY1AZ"
    by_code_point = -sum(map(ord, text)) & 0xFFFF
    message = parse_message(f"{text}{by_code_point:04X}".encode())
    assert message.get("CP") == "中央図書館"


@pytest.mark.parametrize(
    "data",
    [
        b"9900302.00AY1AZFCA6\r",
        b"9900302.00AY2AZFCA5\r",  # sequence number changed in transit
        b"9300CNterm|COpass|AY1AZ0000\r",
    ],
)
def test_parse_rejects_a_wrong_checksum(data: bytes) -> None:
    with pytest.raises(ChecksumError):
        parse_message(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"9",
        b"hello world",
        b"9X00CNa|COb|",
        b"93",  # fixed fields missing
        b"230012006",  # truncated date
        b"23001200601|1    084237AOx|AAy|",  # delimiter inside a fixed field
        b"9300CNa|COb|X|",  # one-letter field identifier
        b"9300CNa|CO\x00b|",  # control character
        b"9300CN\xff\xfe|COb|",  # not UTF-8
        b"9300CNterm|",  # CO missing
        b"23001" + DATE.encode() + b"AOx|AC|AD1|",  # AA missing
    ],
)
def test_parse_rejects_malformed_messages(data: bytes) -> None:
    with pytest.raises(MessageError):
        parse_message(data)


def test_parse_reports_unsupported_messages_apart() -> None:
    with pytest.raises(UnsupportedMessageError, match="message 11 is not supported"):
        parse_message(b"11YN" + DATE.encode() * 2 + b"AOx|AAy|ABz|AC|\r")


def test_parse_enforces_the_size_cap() -> None:
    text = "9300CNterm|COpass|CP"
    exact = (text + "x" * (128 - len(text) - 1) + "|").encode()
    assert len(exact) == 128
    assert parse_message(exact + b"\r", max_bytes=128).get("CN") == "term"
    with pytest.raises(MessageTooLongError):
        parse_message(exact + b"x\r", max_bytes=128)


def test_format_login_response_with_sequence_and_checksum() -> None:
    data = format_message(Message("94", {"ok": "1"}, sequence=1))
    assert data == signed("941AY1") + b"\r"
    assert parse_message(data).fixed == {"ok": "1"}


def test_format_resend_request_is_the_spec_example() -> None:
    assert format_message(Message("96")) == b"96AZFEF6\r"
    assert format_message(Message("96"), error_detection=False) == b"96\r"


def test_format_patron_status_response_field_order() -> None:
    message = Message(
        "24",
        {"patron_status": " " * 14, "language": "014", "transaction_date": DATE},
        (("AO", "LIB"), ("AA", "0300000001"), ("AE", "図書 花子"), ("BL", "Y"), ("CQ", "Y")),
        sequence=2,
    )
    data = format_message(message)
    expected = f"24{' ' * 14}014{DATE}AOLIB|AA0300000001|AE図書 花子|BLY|CQY|AY2"
    assert data == signed(expected) + b"\r"
    assert parse_message(data) == Message(
        "24", message.fixed, message.fields, sequence=2, has_checksum=True
    )


def test_format_strips_delimiters_and_control_characters_from_values() -> None:
    data = format_message(Message("94", {"ok": "1"}, (("AF", "a|b\rc\nd"),)))
    assert parse_message(data).get("AF") == "abcd"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (Message("94", {"ok": "10"}), "fixed field ok must be 1 plain characters"),
        (Message("94", {}), "do not match its layout"),
        (Message("94", {"ok": "1", "extra": "x"}), "do not match its layout"),
        (Message("94", {"ok": "|"}), "fixed field ok must be 1 plain characters"),
        (Message("94", {"ok": "1"}, (("A", "x"),)), "bad field identifier"),
        (Message("94", {"ok": "1"}, sequence=10), "sequence number must be 0-9"),
        (Message("11"), "no layout for message '11'"),
    ],
)
def test_format_refuses_what_the_layout_does_not_allow(message: Message, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        format_message(message)


def test_shift_jis_text_survives_a_trail_byte_equal_to_the_delimiter() -> None:
    # 倒 is 0x93 0x7C in Shift_JIS: the second byte is "|".
    assert b"|" in "倒".encode("shift_jis")
    message = Message(
        "24",
        {"patron_status": " " * 14, "language": "014", "transaction_date": DATE},
        (("AO", "LIB"), ("AA", "1"), ("AE", "倒木"), ("BL", "Y")),
    )
    data = format_message(message, encoding="shift_jis")
    assert parse_message(data, encoding="shift_jis").get("AE") == "倒木"


def test_patron_status_positions_follow_the_spec() -> None:
    assert len(PATRON_STATUS_FLAGS) == 14
    field = format_patron_status({"charge_privileges_denied", "card_reported_lost"})
    assert field == "Y   Y         "
    assert format_patron_status(["too_many_items_billed"]) == " " * 13 + "Y"
    assert parse_patron_status(field) == {"charge_privileges_denied", "card_reported_lost"}
    with pytest.raises(ValueError, match="unknown patron status flag"):
        format_patron_status({"banned"})


def test_supported_messages_field() -> None:
    assert format_supported_messages({"23", "99", "97", "93", "63", "35"}) == "YNNNYYYYYNNNNNNN"


def test_sip_datetime_is_local_time_with_a_blank_zone() -> None:
    moment = dt.datetime(2026, 4, 1, 9, 30, 0)
    assert format_sip_datetime(moment) == DATE


def test_language_table() -> None:
    assert LANGUAGES["000"].startswith("Unknown")
    assert LANGUAGES["001"] == "English"
    assert LANGUAGES["014"] == "Japanese"
    assert len(LANGUAGES) == 28
    assert dict(LANGUAGE_CODES) == {"en": "001", "ja": "014"}
