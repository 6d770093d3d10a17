"""Rules for a staff password: stronger than a patron's (SPEC §6, NIST SP 800-63B §3.1.1.2).

At least 12 characters (any characters, spaces included; at most 128), typed twice,
not the username, and not on the patrons' blocklist of common passwords and PIN
patterns (:func:`idp.services.accounts.password_rules.is_common_password`, the same data), also
ignoring a trailing run of digits or punctuation (``password2024!``).
"""

from __future__ import annotations

import enum
import re

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from idp.services.accounts.password_rules import is_common_password
from idp.services.accounts.patrons import normalize_password

MIN_LENGTH = 12
MAX_LENGTH = 128
_TRAILING_DECORATION = re.compile(r"[\d\W_]+$")


# The shape mirrors services/accounts/password_rules.py on purpose, but the rules differ
# (staff: 12-128 characters, no username; patrons: 4-20 letters or digits, not the card
# number), so each keeps its own enum and messages.
class StaffPasswordRule(enum.StrEnum):
    """A rule a new staff password failed; the first failing one is reported."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    MISMATCH = "mismatch"
    CONTAINS_USERNAME = "contains_username"
    TOO_COMMON = "too_common"


RULE_MESSAGES: dict[StaffPasswordRule, LazyString] = {
    StaffPasswordRule.TOO_SHORT: _l("Use at least 12 characters for a staff password."),
    StaffPasswordRule.TOO_LONG: _l("Use at most 128 characters for a staff password."),
    StaffPasswordRule.MISMATCH: _l("The password and its confirmation do not match."),
    StaffPasswordRule.CONTAINS_USERNAME: _l("The password must not contain your username."),
    StaffPasswordRule.TOO_COMMON: _l(
        "This password is too easy to guess (a common password or a pattern). "
        "Please choose another."
    ),
}


def check_staff_password(
    password: str, confirmation: str, *, username: str
) -> StaffPasswordRule | None:
    """The first rule ``password`` breaks, or None when it may be used.

    :param username: the staff member's username (the password must not contain it).
    """
    new = normalize_password(password)
    if len(new) < MIN_LENGTH:
        return StaffPasswordRule.TOO_SHORT
    if len(new) > MAX_LENGTH:
        return StaffPasswordRule.TOO_LONG
    if new != normalize_password(confirmation):
        return StaffPasswordRule.MISMATCH
    if username and username.lower() in new.lower():
        return StaffPasswordRule.CONTAINS_USERNAME
    lowered = new.lower()
    stem = _TRAILING_DECORATION.sub("", lowered)
    if is_common_password(lowered) or (stem and is_common_password(stem)):
        return StaffPasswordRule.TOO_COMMON
    if len(set(lowered)) <= 2:
        # "aaaaaaaaaaaa", "abababababab": long, and still guessed at once.
        return StaffPasswordRule.TOO_COMMON
    return None
