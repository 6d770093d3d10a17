"""Card numbers: normalisation of typed input, check digits (Luhn M10W21 and M11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from idp.services.cards.numbers import CheckDigitError
from idp.services.cards.numbers import compute_check_digit
from idp.services.cards.numbers import normalize_card_number
from idp.services.cards.numbers import validate_card_number

bodies = st.text(alphabet="0123456789", min_size=1, max_size=20)


@pytest.mark.parametrize(
    "raw",
    [
        "0300000001",
        " 0300000001 ",
        "０３０００００００１",  # full-width digits
        "０３００－０００－００１",  # full-width hyphen-minus
        "0300 000 001",
        "0300\u3000000\u3000001",  # ideographic space
        "0300-000-001",
        "0300\u2010000\u2011001",  # hyphen, non-breaking hyphen
        "0300\u2012000\u2013001",  # figure dash, en dash
        "0300\u2014000\u2015001",  # em dash, horizontal bar
        "0300\u2212000\ufe63001",  # minus sign, small hyphen-minus
        "0300ー000ｰ001",  # katakana prolonged sound mark, as an IME types "-"
        "0300\t000\n001",
    ],
)
def test_normalize_keeps_only_the_digits(raw: str) -> None:
    assert normalize_card_number(raw) == "0300000001"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03A-0001", "03A-0001"),  # a letter: NFKC form as-is, so validation refuses it
        ("０３Ａ－０００１", "03A-0001"),  # ...after NFKC
        ("٠٣٠٠", "٠٣٠٠"),  # Arabic-Indic digits are digits, but not ASCII ones
        ("0300/0001", "0300/0001"),
        ("", ""),
        (" - ", ""),
    ],
)
def test_normalize_leaves_other_characters_for_validation_to_refuse(
    raw: str, expected: str
) -> None:
    assert normalize_card_number(raw) == expected


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("7894", "9"),  # python-stdnum's Luhn example
        ("7992739871", "3"),  # 79927398713, the classic Luhn test number
        ("411111111111111", "1"),  # 4111 1111 1111 1111, the common test card
        ("0", "0"),
        ("5", "9"),  # 5 doubled is 10 → 1 + 0
    ],
)
def test_m10w21_is_luhn(body: str, check: str) -> None:
    assert compute_check_digit(body, "M10W21") == check


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("8601111794", "7"),  # Norwegian account 8601.11.17947, weights 2-7 from the right
        ("123456789", "2"),  # 9·2+8·3+7·4+6·5+5·6+4·7+3·2+2·3+1·4 = 174; 174 % 11 = 9
        ("1", "9"),
        ("5", "1"),
        ("0", "0"),  # remainder 0 → check digit 0
    ],
)
def test_m11_weights_two_to_seven_from_the_right(body: str, check: str) -> None:
    assert compute_check_digit(body, "M11") == check


def test_m11_refuses_bodies_that_would_need_ten() -> None:
    # 6·2 = 12, remainder 1, check value 10: digits-only cards cannot carry it.
    with pytest.raises(CheckDigitError, match="no digit check value"):
        compute_check_digit("6", "M11")
    assert not validate_card_number("60", pattern=r"\d{2}", check_digit="M11")


@pytest.mark.parametrize("body", ["", "12a4", "１２３", "٣"])
def test_check_digit_needs_ascii_digits(body: str) -> None:
    with pytest.raises(CheckDigitError, match="ASCII digits"):
        compute_check_digit(body, "M10W21")


def test_check_digit_needs_a_scheme() -> None:
    with pytest.raises(CheckDigitError, match="no check digit under scheme 'none'"):
        compute_check_digit("123", "none")


@pytest.mark.parametrize(
    ("card_number", "expected"),
    [
        ("0300000001", True),
        ("030000000", False),  # 9 digits
        ("03000000011", False),  # 11 digits
        ("０３０００００００１", False),  # not normalised
        ("٠٣٠٠٠٠٠٠٠١", False),  # Arabic-Indic digits: \d is ASCII only here
        ("0300-00001", False),
        ("", False),
    ],
)
def test_validate_default_pattern_is_ten_ascii_digits(card_number: str, expected: bool) -> None:
    assert validate_card_number(card_number) is expected


@pytest.mark.parametrize(
    ("card_number", "scheme", "expected"),
    [
        ("79927398713", "M10W21", True),
        ("79927398710", "M10W21", False),
        ("79927398731", "M10W21", False),  # adjacent digits swapped
        ("86011117947", "M11", True),
        ("86011117946", "M11", False),
        ("79927398713", "M11", False),
        ("86011117947", "none", True),
    ],
)
def test_validate_checks_the_last_digit(card_number: str, scheme: str, expected: bool) -> None:
    assert (
        validate_card_number(card_number, pattern=r"\d{11}", check_digit=scheme)  # type: ignore[arg-type]
        is expected
    )


def test_validate_refuses_letters_when_a_check_digit_is_required() -> None:
    assert validate_card_number("A1234567890", pattern=r"A\d{10}")
    assert not validate_card_number("A1234567890", pattern=r"A\d{10}", check_digit="M10W21")
    assert not validate_card_number("7", pattern=r"\d", check_digit="M10W21")


def test_validate_rejects_an_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unknown check-digit scheme 'MOD7'"):
        validate_card_number("0300000001", check_digit="MOD7")  # type: ignore[arg-type]


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(body=bodies, position=st.integers(min_value=0), delta=st.integers(1, 9))
def test_luhn_catches_every_single_digit_error(body: str, position: int, delta: int) -> None:
    number = body + compute_check_digit(body, "M10W21")
    assert validate_card_number(number, pattern=r"\d+", check_digit="M10W21")
    index = position % len(number)
    wrong = number[:index] + str((int(number[index]) + delta) % 10) + number[index + 1 :]
    assert not validate_card_number(wrong, pattern=r"\d+", check_digit="M10W21")


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(body=bodies, position=st.integers(min_value=0), delta=st.integers(1, 9))
def test_m11_catches_every_single_digit_error(body: str, position: int, delta: int) -> None:
    try:
        number = body + compute_check_digit(body, "M11")
    except CheckDigitError:
        return  # a body with no M11 check digit is never issued
    assert validate_card_number(number, pattern=r"\d+", check_digit="M11")
    index = position % len(number)
    wrong = number[:index] + str((int(number[index]) + delta) % 10) + number[index + 1 :]
    assert not validate_card_number(wrong, pattern=r"\d+", check_digit="M11")
