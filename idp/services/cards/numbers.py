"""Card numbers as people type them, and the check-digit schemes library cards use.

Check digits (both computed over the digits *before* the check digit, weighting from the
right, with the rightmost body digit weighted 2):

``M10W21``
    "Modulus 10, weights 2-1", the Luhn algorithm of ISO/IEC 7812-1 Annex B, as used on
    Codabar (NW-7) library cards: every second digit from the right is doubled, a doubled
    value above 9 contributes the sum of its two digits (i.e. minus 9), and the check digit
    is ``(10 - total % 10) % 10``. ``7894`` → ``9``; ``7992739871`` → ``3``.

``M11``
    Modulus 11 with weights 2, 3, 4, 5, 6, 7 repeating from the right: the check digit is
    ``(11 - total % 11) % 11``, so a remainder of 0 gives ``0``. A remainder of 1 would need
    the value 10 ("X" in some schemes); card numbers are digits only, so such a body has no
    valid check digit (:class:`CheckDigitError`) and no number ending there validates.
    ``8601111794`` → ``7``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

CheckDigitScheme = Literal["none", "M10W21", "M11"]

#: Hyphens and dashes people type or paste between digit groups, after NFKC (which has
#: already folded the full-width and small forms to these). The katakana prolonged sound
#: mark is what a Japanese IME often produces for "-" in a number.
_DASHES = frozenset(
    "-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e3a\u2e3b\u30fc\ufe58\ufe63\uff0d\uff70"
)
_M11_WEIGHTS = (2, 3, 4, 5, 6, 7)


class CheckDigitError(ValueError):
    """The body is not all digits, or cannot take a check digit under the scheme."""


def _is_ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def normalize_card_number(raw: str) -> str:
    """Normalise a typed or scanned card number.

    NFKC first (full-width digits become ASCII), then spaces and the various hyphens and
    dashes are dropped: ``０３００－０００ ０００`` → ``0300000000``. When anything other than
    ASCII digits is left, the NFKC form is returned unchanged, so that validation refuses it.

    :param raw: the card number as received.
    :return: the digits-only string, or the NFKC-normalised input.
    """
    normalized = unicodedata.normalize("NFKC", raw)
    digits = "".join(ch for ch in normalized if not ch.isspace() and ch not in _DASHES)
    if digits == "" or _is_ascii_digits(digits):
        return digits
    return normalized


def compute_check_digit(body: str, scheme: CheckDigitScheme) -> str:
    """Compute the check digit for ``body`` (see the module docstring for the schemes).

    :param body: the card number without its check digit; ASCII digits only.
    :param scheme: ``"M10W21"`` or ``"M11"``.
    :return: the check digit, one character.
    :raises CheckDigitError: for a non-digit or empty body, for ``"none"``, or under M11
        when the check value would be 10.
    """
    if not _is_ascii_digits(body):
        raise CheckDigitError("the body must be one or more ASCII digits")
    reversed_digits = [int(ch) for ch in reversed(body)]
    if scheme == "M10W21":
        total = 0
        for index, digit in enumerate(reversed_digits):
            value = digit * 2 if index % 2 == 0 else digit
            total += value - 9 if value > 9 else value
        return str((10 - total % 10) % 10)
    if scheme == "M11":
        total = sum(
            digit * _M11_WEIGHTS[index % len(_M11_WEIGHTS)]
            for index, digit in enumerate(reversed_digits)
        )
        check = (11 - total % 11) % 11
        if check == 10:
            raise CheckDigitError("this body has no digit check value under M11")
        return str(check)
    raise CheckDigitError(f"no check digit under scheme {scheme!r}")


def validate_card_number(
    card_number: str,
    *,
    pattern: str = r"\d{10}",
    check_digit: CheckDigitScheme = "none",
) -> bool:
    """Tell whether a normalised card number is acceptable.

    :param card_number: the card number, already passed through :func:`normalize_card_number`.
    :param pattern: a regular expression the whole number must match (``\\d`` is ASCII only).
    :param check_digit: the scheme its last digit must satisfy, or ``"none"``.
    :return: True when the number matches the pattern and its check digit is right.
    :raises ValueError: for an unknown check-digit scheme (a configuration error).
    """
    if check_digit not in ("none", "M10W21", "M11"):
        raise ValueError(f"unknown check-digit scheme {check_digit!r}")
    if re.fullmatch(pattern, card_number, flags=re.ASCII) is None:
        return False
    if check_digit == "none":
        return True
    if len(card_number) < 2 or not _is_ascii_digits(card_number):
        return False
    try:
        expected = compute_check_digit(card_number[:-1], check_digit)
    except CheckDigitError:
        return False
    return card_number[-1] == expected
