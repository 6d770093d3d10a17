"""Rules for a new password chosen by a patron (SPEC §1), in one place.

4–20 ASCII letters and digits (digits only is fine, as the seed notice says), typed
twice, different from the current (temporary) password and from the card number, and
not one of the passwords or PINs people choose most. The blocklist is a shipped file
(``idp/data/common_passwords.txt``, built by ``scripts/build_blocklist.py`` from
zxcvbn's frequency lists) plus PIN patterns computed here: repeated digits, runs,
years, dates and birthdays, and repeated groups such as ``1212``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
import re
from pathlib import Path

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from idp.services.accounts.patrons import normalize_password
from idp.services.cards.numbers import normalize_card_number

BLOCKLIST_FILE = Path(__file__).resolve().parents[2] / "data" / "common_passwords.txt"
_ALLOWED = re.compile(r"[A-Za-z0-9]+")


class PasswordRule(enum.StrEnum):
    """A rule a new password failed; the first failing one is reported."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BAD_CHARACTERS = "bad_characters"
    MISMATCH = "mismatch"
    SAME_AS_CURRENT = "same_as_current"
    SAME_AS_CARD_NUMBER = "same_as_card_number"
    TOO_COMMON = "too_common"


#: What the patron is told for each rule (Japanese follows the seed notice's wording).
RULE_MESSAGES: dict[PasswordRule, LazyString] = {
    PasswordRule.TOO_SHORT: _l("The new password is too short. Use 4 to 20 letters or digits."),
    PasswordRule.TOO_LONG: _l("The new password is too long. Use 4 to 20 letters or digits."),
    PasswordRule.BAD_CHARACTERS: _l(
        "Use only letters (A-Z, a-z) and digits (0-9) in the new password."
    ),
    PasswordRule.MISMATCH: _l("The new password and its confirmation do not match."),
    PasswordRule.SAME_AS_CURRENT: _l("The new password must differ from the current password."),
    PasswordRule.SAME_AS_CARD_NUMBER: _l("The new password must not be your library card number."),
    PasswordRule.TOO_COMMON: _l(
        "This password is too easy to guess (a common password, a run of digits, "
        "a year or a date). Please choose another."
    ),
}


@functools.cache
def _blocklist() -> frozenset[str]:
    # Read once per process: the file is part of the package and never changes at run time.
    lines = BLOCKLIST_FILE.read_text(encoding="ascii").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _is_run(digits: str) -> bool:
    """Ascending or descending by one, wrapping round (``7890``, ``3210``, ``2109``)."""
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(digits)}
    return steps in ({1}, {9})


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _is_month_day(four: str) -> bool:
    """``MMDD`` or ``DDMM`` of a real day (29 February counts)."""
    first, second = int(four[:2]), int(four[2:])
    return _is_date(2000, first, second) or _is_date(2000, second, first)


def _is_repeated_group(word: str) -> bool:
    """The same group two or more times: ``1212``, ``121212``, ``123123``, ``abab``."""
    size = len(word)
    return any(size % unit == 0 and word == word[:unit] * (size // unit) for unit in range(1, size))


def is_pin_pattern(digits: str) -> bool:
    """True for the digit patterns people choose as PINs (SPEC §1)."""
    if not digits.isdigit():
        return False
    size = len(digits)
    if _is_repeated_group(digits) or _is_run(digits):
        return True
    if size == 4 and (1900 <= int(digits) <= 2039 or _is_month_day(digits)):
        return True
    if size == 6:
        # YYMMDD birthdays, any century.
        return _is_date(2000, int(digits[2:4]), int(digits[4:6]))
    if size == 8:
        # YYYYMMDD birthdays.
        year = int(digits[:4])
        return 1900 <= year <= 2039 and _is_date(year, int(digits[4:6]), int(digits[6:8]))
    return False


def is_common_password(password: str) -> bool:
    """True when ``password`` is on the blocklist or is a common PIN pattern.

    Words are compared case-insensitively (``Password`` is ``password``).
    """
    word = normalize_password(password).lower()
    return word in _blocklist() or is_pin_pattern(word) or _is_repeated_group(word)


def check_new_password(
    new_password: str,
    confirmation: str,
    *,
    card_number: str,
    current_password: str | None = None,
    min_length: int = 4,
    max_length: int = 20,
) -> PasswordRule | None:
    """The first rule ``new_password`` breaks, or None when it may be used.

    Length and characters are checked first, then the confirmation, then the
    comparisons, then the blocklist. Every input is NFKC-normalised first, as at login.

    :param card_number: the patron's card number (the password must differ from it).
    :param current_password: the current (temporary) password as typed, when known.
    """
    new = normalize_password(new_password)
    if len(new) < min_length:
        return PasswordRule.TOO_SHORT
    if len(new) > max_length:
        return PasswordRule.TOO_LONG
    if not _ALLOWED.fullmatch(new) or not new.isascii():
        return PasswordRule.BAD_CHARACTERS
    if new != normalize_password(confirmation):
        return PasswordRule.MISMATCH
    if current_password is not None and new == normalize_password(current_password):
        return PasswordRule.SAME_AS_CURRENT
    if new == normalize_card_number(card_number):
        return PasswordRule.SAME_AS_CARD_NUMBER
    if is_common_password(new):
        return PasswordRule.TOO_COMMON
    return None
