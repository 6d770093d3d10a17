"""Patron Status (23) / Patron Information (63) without a PIN tell the card's state.

A terminal that looks a card up without the patron's PIN gets BL=Y for every issued card,
and the patron-status flags (SIP2 2.00, the 14-character fixed field) of a card that may
not be used now: expired, suspended, lost, withdrawn, or still on a temporary password.
Never a blocked card as a plain valid patron (README "SIP2", the mapping table).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import PatronStatus
from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from tests.sip2.conftest import patron_information
from tests.sip2.conftest import patron_status
from tests.sip2_status import parse_patron_status
from tests.support.factories import make_patron
from tests.support.sip2 import RawClient

CARD = "0300000051"
REFUSED = {
    "charge_privileges_denied",
    "renewal_privileges_denied",
    "recall_privileges_denied",
    "hold_privileges_denied",
}
INACTIVE_AF = "この貸出カードは現在ご利用いただけません。図書館の窓口にお問い合わせください。"


@pytest.mark.parametrize(
    ("fields", "blocks", "af"),
    [
        ({"status": PatronStatus.SUSPENDED.value}, REFUSED, INACTIVE_AF),
        ({"status": PatronStatus.LOST.value}, REFUSED | {"card_reported_lost"}, INACTIVE_AF),
        ({"status": PatronStatus.WITHDRAWN.value}, REFUSED, INACTIVE_AF),
        (
            {"expires_on": dt.date(2020, 3, 31)},
            REFUSED,
            "貸出カードの有効期限が切れています。図書館の窓口で更新してください。",
        ),
        ({"temporary": True}, REFUSED, TEMPORARY_PASSWORD_SCREEN_MESSAGE["ja"]),
    ],
    ids=["suspended", "lost", "withdrawn", "expired", "temporary"],
)
@pytest.mark.parametrize("request_of", [patron_status, patron_information], ids=["23", "63"])
def test_a_card_that_may_not_be_used_is_never_a_plain_valid_patron(
    terminal: RawClient,
    app: Flask,
    fields: dict[str, Any],
    blocks: set[str],
    af: str,
    request_of: Any,
) -> None:
    make_patron(CARD, **fields)
    answer = terminal.ask(request_of(CARD))
    assert answer.get("BL") == "Y" and answer.get("CQ") is None
    assert parse_patron_status(answer.fixed["patron_status"]) == blocks
    assert answer.get("AF") == af
    assert answer.get("AE") == ""  # nothing personal without the PIN
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "sip2.patron_lookup")
    ).one()
    assert event.detail["found"] is True and event.detail["status"] is not None


def test_an_active_card_has_blank_flags(terminal: RawClient, app: Flask) -> None:
    make_patron(CARD)
    answer = terminal.ask(patron_status(CARD))
    assert answer.get("BL") == "Y"
    assert parse_patron_status(answer.fixed["patron_status"]) == set()
    assert answer.get("AF") is None
