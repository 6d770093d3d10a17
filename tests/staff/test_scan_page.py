"""The desk scan page: the same check as POST /api/card/verify, answered for people."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.services.cards.codes import current_code
from idp.services.cards.service import card_service
from idp.services.container import container
from tests.staff.conftest import post_form
from tests.support.factories import make_patron


def _code(card: str) -> str:
    return current_code(card_service().codes, card, container().now().timestamp()).value


def _scan(client: FlaskClient, value: str) -> tuple[int, str]:
    response = post_form(client, "/staff/scan", None, {"code": value})
    return response.status_code, response.get_data(as_text=True)


def test_valid_code_shows_the_card_number_then_replay_is_refused(
    counter_client: FlaskClient, patron: Any
) -> None:
    code = _code(patron.card_number)
    status, html = _scan(counter_client, code)
    assert status == 200
    assert "有効なカード" in html
    assert (
        f'id="scan-card" class="scan-card" type="text" readonly value="{patron.card_number}"'
        in html
    )
    status, html = _scan(counter_client, code)
    assert "使用済み" in html and 'id="scan-card"' not in html
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event.like("card.%"))))
    assert [(e.event, e.actor) for e in events] == [
        ("card.verified", "kaori"),
        ("card.refused", "kaori"),
    ]
    assert events[1].detail["reason"] == "replayed"


def test_scanner_input_with_codabar_letters_and_full_width_digits(
    counter_client: FlaskClient, patron: Any
) -> None:
    code = _code(patron.card_number)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code)
    status, html = _scan(counter_client, f"A{wide}B\r\n")
    assert status == 200 and "有効なカード" in html


def test_printed_card_number_is_a_plain_card(counter_client: FlaskClient, patron: Any) -> None:
    status, html = _scan(counter_client, patron.card_number)
    assert status == 200
    assert "印刷されたカード" in html and f'value="{patron.card_number}"' in html


def test_refusals_say_why(counter_client: FlaskClient, patron: Any) -> None:
    suspended = make_patron("0300000222", status="suspended")
    assert "この番号のカードはありません" in _scan(counter_client, "0399999999123456")[1]
    assert "カードのコードではありません" in _scan(counter_client, "12")[1]
    expired = _scan(counter_client, patron.card_number + "000000")[1]
    assert "有効期限切れ" in expired
    html = _scan(counter_client, _code(suspended.card_number))[1]
    assert "利用停止中" in html and suspended.card_number in html


def test_scan_page_needs_a_signed_in_staff_member(client: FlaskClient) -> None:
    assert client.get("/staff/scan").status_code == 302
