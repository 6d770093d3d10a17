"""The card service's own rules: settings, scan normalisation, the code secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.services.cards.service import card_service
from idp.services.cards.service import normalize_scan
from idp.settings import ConfigError
from idp.settings import check_production
from idp.settings import load_settings
from tests.card.conftest import STEP
from tests.card.conftest import current_value
from tests.card.conftest import post_verify
from tests.rebuild import rebuild_cards
from tests.support.factories import change_settings

PRODUCTION = {"IDP_ISSUER": "https://idp.example.org"}


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("IDP_CARD_SYMBOLOGY", "qr", "IDP_CARD_SYMBOLOGY"),
        ("IDP_CARD_CODE_STEP", 2, "IDP_CARD_CODE_STEP"),
        ("IDP_CARD_CODE_STEP", 3600, "IDP_CARD_CODE_STEP"),
        ("IDP_CARD_CODE_SKEW_STEPS", -1, "IDP_CARD_CODE_SKEW_STEPS"),
        ("IDP_CARD_CODE_SKEW_STEPS", 10, "IDP_CARD_CODE_SKEW_STEPS"),
        ("IDP_CARD_RECENT_LOGIN", 10, "IDP_CARD_RECENT_LOGIN"),
        ("IDP_CARD_CODE_SECRET", "short", "IDP_CARD_CODE_SECRET"),
    ],
)
def test_unusable_card_settings_refuse_to_start(setting: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # in development and production
        load_settings({}, {**PRODUCTION, setting: value})


def test_the_defaults_are_valid() -> None:
    check_production(load_settings({}, PRODUCTION), "x" * 40)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("A0300000001123456A", "0300000001123456"),
        ("d0300000001123456b", "0300000001123456"),
        ("０３０００００００１１２３４５６", "0300000001123456"),
        ("Ａ0300000001123456Ｄ", "0300000001123456"),
        ("\t0300000001123456\r\n", "0300000001123456"),
        ("A0300000001123456", "A0300000001123456"),  # half a frame stays malformed
        ("x" * 300, ""),
    ],
)
def test_normalize_scan(raw: str, value: str) -> None:
    assert normalize_scan(raw) == value


def test_code_key_is_not_the_application_secret(app: Flask) -> None:
    assert card_service().codes.secret != app.config["SECRET_KEY"].encode()
    assert len(card_service().codes.secret) == 32


def test_a_configured_code_secret_changes_every_code(app: Flask, patron: Any, clock: Any) -> None:
    before = current_value(patron.card_number, clock.now)
    change_settings(app, IDP_CARD_CODE_SECRET="another-card-code-secret-0123456789abcdef")
    rebuild_cards(app)

    assert current_value(patron.card_number, clock.now) != before


def test_without_skew_only_the_current_step_is_accepted(
    app: Flask, client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    change_settings(app, IDP_CARD_CODE_SKEW_STEPS=0)
    rebuild_cards(app)
    shown = current_value(patron.card_number, aligned.now)
    aligned.advance(seconds=STEP)

    answer = post_verify(client, desk_token, shown).get_json()

    assert answer == {"valid": False, "reason": "expired_code"}


def test_a_longer_step(
    app: Flask, client: FlaskClient, desk_token: str, patron: Any, aligned: Any
) -> None:
    change_settings(app, IDP_CARD_CODE_STEP=60)
    rebuild_cards(app)
    start = (int(aligned.now.timestamp()) // 60 + 1) * 60
    aligned.now = dt.datetime.fromtimestamp(start, dt.UTC)
    shown = current_value(patron.card_number, aligned.now)
    aligned.advance(seconds=119)

    assert post_verify(client, desk_token, shown).get_json()["valid"] is True
    aligned.advance(seconds=1)  # two 60-second steps later
    assert post_verify(client, desk_token, shown).get_json()["reason"] == "expired_code"
