"""Card numbers as libraries write them: the configured check digit at every way in.

``IDP_CARD_CHECK_DIGIT = "M10W21"`` here: ``0300000007`` and ``0300000015`` are valid
card numbers, ``0300000001`` (the shared ``patron`` fixture's) is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from sqlalchemy import func
from sqlalchemy import select

from idp import create_app
from idp.config import ConfigError
from idp.extensions import db
from idp.models.patron import Patron
from idp.models.throttle import ThrottleCounter
from idp.services.accounts.patrons import is_valid_card_number
from tests.patron_api.conftest import Check
from tests.security.conftest import post_login
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.factories import make_patron

VALID = "0300000015"
WRONG_CHECK = "0300000016"
WRONG_JA = "貸出カードの番号またはパスワードが正しくありません。"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["IDP_CARD_CHECK_DIGIT"] = "M10W21"
    return app_config


def _card_counters() -> int:
    count = db.session.scalar(
        select(func.count()).select_from(ThrottleCounter).where(ThrottleCounter.key.like("card:%"))
    )
    return int(count or 0)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0300000007", True),
        ("０３００－０００－００７", True),  # full-width digits and hyphen
        ("0300 0000 15", True),
        ("0300-000-015", True),
        ("0300000008", False),  # wrong check digit
        ("030000007", False),  # pattern: ten digits
        ("", False),
    ],
)
def test_is_valid_card_number_applies_pattern_and_check_digit(
    app: Flask, typed: str, expected: bool
) -> None:
    # The helper the desk's card verification and SIP2 call, as the login does.
    assert is_valid_card_number(typed) is expected


def test_modulus_11_is_configurable(app: Flask) -> None:
    change_settings(app, IDP_CARD_CHECK_DIGIT="M11")
    assert is_valid_card_number("0300000002")
    assert is_valid_card_number("0300000010")
    assert not is_valid_card_number("0300000007")


def test_unknown_scheme_or_pattern_refuses_to_start(app_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="IDP_CARD_CHECK_DIGIT"):
        create_app({**app_config, "IDP_CARD_CHECK_DIGIT": "MOD7"})
    with pytest.raises(ConfigError, match="IDP_CARD_NUMBER_PATTERN"):
        create_app({**app_config, "IDP_CARD_NUMBER_PATTERN": "(\\d"})


def test_issue_checks_the_check_digit(runner: FlaskCliRunner) -> None:
    bad = runner.invoke(args=["patrons", "issue", "--card", WRONG_CHECK, "--expires", "2028-11-30"])
    assert bad.exit_code != 0 and "check digit" in bad.output
    good = runner.invoke(
        args=["patrons", "issue", "--card", "０３００－０００－０１５", "--expires", "2028-11-30"]
    )
    assert good.exit_code == 0, good.output
    assert db.session.scalar(select(Patron.card_number)) == VALID


def test_import_reports_wrong_check_digits_with_line_numbers(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "patrons.csv"
    path.write_text(
        "card_number,password,temporary,expires_on,name,email\n"
        "0300000007,oldpass99,false,2028-11-30,,\n"
        f"{WRONG_CHECK},oldpass99,false,2028-11-30,,\n"
        "０３００－０００－０１５,,true,2028-11-30,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["patrons", "import", str(path)])
    assert "Created 2, unchanged 0, errors 1." in result.output
    assert "line 3: card_number does not match the configured pattern or check digit" in (
        result.output
    )
    cards = set(db.session.scalars(select(Patron.card_number)))
    assert cards == {"0300000007", VALID}


def test_login_accepts_the_card_as_typed(client: FlaskClient, app: Flask) -> None:
    make_patron(VALID)
    response = post_login(client, "０３００ ０００ ０１５", DEFAULT_PASSWORD)
    assert response.status_code == 302


def test_login_refuses_a_wrong_check_digit_like_a_wrong_password(
    client: FlaskClient, app: Flask
) -> None:
    make_patron(VALID)
    malformed = post_login(client, WRONG_CHECK, DEFAULT_PASSWORD)
    wrong = post_login(client, VALID, "wrong-guess")
    assert malformed.status_code == wrong.status_code == 401
    assert WRONG_JA in malformed.get_data(as_text=True)
    assert WRONG_JA in wrong.get_data(as_text=True)


def test_a_stored_card_failing_the_check_is_never_looked_up(
    client: FlaskClient, check: Check, patron: Patron
) -> None:
    # 0300000001 was stored before the check digit was switched on: its password is
    # never checked any more, and no per-card counter is kept for such a number.
    assert post_login(client, patron.card_number, DEFAULT_PASSWORD).status_code == 401
    answer = check(patron.card_number, DEFAULT_PASSWORD).get_json()
    assert answer == {"valid": False, "reason": "invalid_credentials"}
    db.session.refresh(patron)
    assert patron.failed_login_count == 0 and patron.last_login_at is None
    assert _card_counters() == 0


def test_api_applies_the_check_digit(check: Check, app: Flask) -> None:
    make_patron(VALID)
    assert check("０３００－０００－０１５", DEFAULT_PASSWORD).get_json()["reason"] == "ok"
    assert check(WRONG_CHECK, DEFAULT_PASSWORD).get_json() == {
        "valid": False,
        "reason": "invalid_credentials",
    }
