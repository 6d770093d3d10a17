"""Mails and the printed notice: who they are from, whom they address, what they promise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from tests.account.conftest import MAIL_FROM
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_patron
from tests.support.forms import login
from tests.support.forms import submit
from tests.support.mailserver import MailServer

CONTACT = "新潟市中央区明石2-1-10\\n電話 025-000-0000\\n開館 9:30〜19:00"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "IDP_LIBRARY_CONTACT": CONTACT, "IDP_MAIL_FROM_NAME": "中央図書館"}


def test_confirmation_mail_names_the_patron_its_validity_and_signs(
    client: FlaskClient, mail_server: MailServer
) -> None:
    patron = make_patron("0300000001", name="図書 花子")
    login(client, patron.card_number, DEFAULT_PASSWORD)
    submit(
        client,
        "/account",
        {
            "email": "hanako@example.jp",
            "send_confirmation": "y",
            "current_password": DEFAULT_PASSWORD,
        },
    )
    [mail] = mail_server.wait_for(1)
    assert mail["From"].addresses[0].display_name == "中央図書館"
    assert mail["From"].addresses[0].addr_spec == MAIL_FROM
    body = mail.get_content().replace("\r\n", "\n")
    assert body.startswith("図書 花子様\n")
    # Subject and body say the same thing: the registration was received.
    assert mail["Subject"] == "利用者情報登録完了のお知らせ"
    assert "利用者情報（メールアドレス）の登録を受け付けました。" in body
    assert "7日以内に次のリンクを開いてください" in body
    signature = body.split("\n--\n", 1)[1]
    assert "市立中央図書館" in signature and "電話 025-000-0000" in signature
    assert "開館 9:30〜19:00" in signature
    assert "Myライブラリ：http://localhost/" in signature


def test_reissue_mail_states_the_link_validity_and_signs(
    client: FlaskClient, mail_server: MailServer
) -> None:
    make_patron("0300000002", email="taro@example.jp", is_email_verified=True)
    submit(client, "/password/reissue", {"card_number": "0300000002", "email": "taro@example.jp"})
    [mail] = mail_server.wait_for(1)
    body = mail.get_content().replace("\r\n", "\n")
    assert body.startswith("利用者様\n")
    assert "30分以内" in body and "\n--\n" in body and "電話 025-000-0000" in body


def test_the_notice_prints_the_name_a_qr_code_and_the_seed_sections(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    notice = tmp_path / "notice.html"
    args = ["patrons", "issue", "--card", "0300000003", "--expires", "2028-11-30"]
    result = runner.invoke(args=[*args, "--name", "図書 太郎", "--notice", str(notice)])
    assert result.exit_code == 0, result.output
    html = notice.read_text(encoding="utf-8")
    assert "図書 太郎様" in html
    assert html.count("<svg") == 1 and 'class="segno"' in html  # the portal URL's QR code
    for section in (
        "貸出カードの表示方法",
        "メールアドレスの登録方法",
        "Myライブラリの初回パスワード変更方法",
    ):
        assert section in html, section
    assert "仮パスワードはこの通知書にのみ記載され、再表示できません。" in html
    assert "この通知書は一度だけ" not in html
    # URLs are never broken inside a line.
    url_rule = re.search(r"\.url \{[^}]*\}", html)
    assert url_rule and "nowrap" in url_rule.group(0) and "break-all" not in url_rule.group(0)
    assert "電話 025-000-0000" in html
