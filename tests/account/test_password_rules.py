"""The new-password rules of SPEC §1 and the blocklist."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import force_locale

from idp.services.accounts.password_rules import BLOCKLIST_FILE
from idp.services.accounts.password_rules import RULE_MESSAGES
from idp.services.accounts.password_rules import PasswordRule
from idp.services.accounts.password_rules import check_new_password
from idp.services.accounts.password_rules import is_common_password

CARD = "0300000000"


def _check(
    new: str, confirm: str | None = None, current: str | None = "12345678"
) -> PasswordRule | None:
    return check_new_password(
        new, new if confirm is None else confirm, card_number=CARD, current_password=current
    )


@pytest.mark.parametrize(
    ("new", "confirm", "rule"),
    [
        ("k7q", None, PasswordRule.TOO_SHORT),
        ("k7qz" * 5 + "x", None, PasswordRule.TOO_LONG),
        ("hon yomu", None, PasswordRule.BAD_CHARACTERS),
        ("ほんよむ42", None, PasswordRule.BAD_CHARACTERS),
        ("yomu-2468", None, PasswordRule.BAD_CHARACTERS),
        ("yomu2468", "yomu2469", PasswordRule.MISMATCH),
        ("12345678", None, PasswordRule.SAME_AS_CURRENT),
        (CARD, None, PasswordRule.SAME_AS_CARD_NUMBER),
        ("password", None, PasswordRule.TOO_COMMON),
        ("0000", None, PasswordRule.TOO_COMMON),
    ],
)
def test_each_rule_is_reported(new: str, confirm: str | None, rule: PasswordRule) -> None:
    assert _check(new, confirm) is rule


@pytest.mark.parametrize("good", ["yomu2468", "4826", "K7qZ", "a" + "7" * 19, "honyomu42"])
def test_acceptable_passwords_pass(good: str) -> None:
    assert _check(good) is None


def test_length_and_characters_come_first() -> None:
    # Too short *and* mismatched: the length is what the patron is told first.
    assert _check("abc", "xyz") is PasswordRule.TOO_SHORT
    assert _check("ab c1", "zzzz") is PasswordRule.BAD_CHARACTERS


def test_full_width_input_is_normalised() -> None:
    assert _check("ｙｏｍｕ２４６８", "yomu2468") is None
    assert _check("１２３４５６７８") is PasswordRule.SAME_AS_CURRENT


@pytest.mark.parametrize(
    "pin",
    [
        "1111",
        "999999",
        "1234",
        "9876",
        "7890",
        "3210",
        "2109",
        "901234",  # same, runs, wraps
        "1984",
        "2039",
        "1900",  # years
        "0229",
        "1231",
        "3112",
        "0704",  # MMDD / DDMM
        "850704",
        "001231",  # YYMMDD
        "19850704",
        "20240229",  # YYYYMMDD
        "1212",
        "121212",
        "123123",
        "12341234",  # repeated groups
    ],
)
def test_pin_patterns_are_common(pin: str) -> None:
    assert is_common_password(pin)


@pytest.mark.parametrize("pin", ["4826", "3750", "2071", "9351", "19851341", "20410101"])
def test_other_pins_are_not(pin: str) -> None:
    assert not is_common_password(pin)


@pytest.mark.parametrize("word", ["password", "PassWord", "QWERTY", "iloveyou", "dragon"])
def test_blocklist_words_are_matched_case_insensitively(word: str) -> None:
    assert is_common_password(word)


def test_blocklist_file_has_its_origin_and_enough_pins() -> None:
    text = BLOCKLIST_FILE.read_text(encoding="ascii")
    lines = text.splitlines()
    assert lines[0].startswith("#") and "zxcvbn" in text.split("\n\n")[0]
    entries = [line for line in lines if not line.startswith("#")]
    pins = [e for e in entries if e.isdigit() and 4 <= len(e) <= 8]
    assert len(pins) >= 1000
    assert all(e.isascii() and e.isalnum() and 4 <= len(e) <= 20 for e in entries)
    assert BLOCKLIST_FILE.stat().st_size < 300_000


def test_every_rule_has_its_own_message_in_both_languages(app: Flask) -> None:
    with app.test_request_context():
        with force_locale("en"):
            english = {rule: str(RULE_MESSAGES[rule]) for rule in PasswordRule}
        with force_locale("ja"):
            japanese = {rule: str(RULE_MESSAGES[rule]) for rule in PasswordRule}
    assert len(set(english.values())) == len(PasswordRule)
    assert len(set(japanese.values())) == len(PasswordRule)
    assert all(english[r] != japanese[r] for r in PasswordRule)
    assert "4桁から20桁" in japanese[PasswordRule.TOO_SHORT]
