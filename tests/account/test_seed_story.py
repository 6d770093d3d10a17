"""The seed notice, step by step: issue → notice → first login → change → re-login → code.

And the same patron at the e-library (policy deny): refused before the change
(``access_denied`` on "back"), let in after it (with consent). Then the e-mail
registration with its confirmation mail, and a password re-issue by mail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from flask.testing import FlaskCliRunner

from tests.account.conftest import text_of
from tests.conftest import ISSUER
from tests.support.forms import submit
from tests.support.mailserver import MailServer
from tests.support.mailserver import link_in
from tests.support.oidc import csrf_token
from tests.support.oidc import query_of

CARD = "0300000000"
CHANGED = "パスワードの変更を受け付けました。新パスワードにて改めてログインしてください。"
DENIED = (
    "仮パスワードではログインできません。Myライブラリで仮パスワードを変更してからご利用ください。"
)


def _rid(response: Any) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["rid"][0]


def test_the_seed_notice_story(
    runner: FlaskCliRunner,
    rp: Any,
    vendor_rp: Any,
    tmp_path: Path,
    mail_server: MailServer,
    clock: Any,
) -> None:
    browser = rp.browser
    # The counter issues the card and prints the notice.
    notice = tmp_path / "notice.html"
    issued = runner.invoke(
        args=[
            "patrons",
            "issue",
            "--card",
            CARD,
            "--expires",
            "2028-11-30",
            "--notice",
            str(notice),
            "--json",
        ]
    )
    temporary = json.loads(issued.output)["temporary_password"]
    html = notice.read_text(encoding="utf-8")
    assert CARD in html and temporary in html and "2028.11.30" in html

    # The e-library refuses the temporary password, as the seed's 注意 says.
    start = vendor_rp.authorize(scope="openid library_card")
    refused = vendor_rp.login(start, CARD, temporary)
    assert refused.status_code == 403 and DENIED in text_of(refused)
    back = browser.post(
        "/login/cancel",
        data={"rid": _rid(start), "csrf_token": csrf_token(refused.get_data(as_text=True))},
    )
    answer = query_of(browser.get(back.headers["Location"]))
    assert answer["error"] == "access_denied" and answer["state"] == vendor_rp.state
    assert answer["iss"] == ISSUER

    # 4: MyLibrary's login screen with ① and ②.
    start = rp.authorize(scope="openid profile library_card offline_access")
    rid, state = _rid(start), rp.state
    to_change = rp.login(start, CARD, temporary)
    assert to_change.headers["Location"].endswith("/password/change")
    # 5: the password change screen: 仮パスワード, 新パスワード, 新パスワード(確認用), 更新.
    page = text_of(browser.get("/password/change"))
    assert "仮パスワード" in page and "新パスワード(確認用)" in page and "更新" in page
    changed = submit(
        browser,
        "/password/change",
        {
            "current_password": temporary,
            "new_password": "hon2468",
            "new_password_confirm": "hon2468",
        },
    )
    # 6: "パスワードの変更を受け付けました。新パスワードにて改めてログインしてください。"
    again = browser.get(changed.headers["Location"])
    assert CHANGED in text_of(again)
    relogin = browser.post(
        "/login",
        data={
            "card_number": CARD,
            "password": "hon2468",
            "rid": rid,
            "csrf_token": csrf_token(again.get_data(as_text=True)),
        },
    )
    code = rp.code_from(relogin)
    assert rp.state == state
    tokens = rp.exchange(code).get_json()
    assert "refresh_token" in tokens
    rp.verify_id_token(tokens["id_token"], ISSUER)
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["card_number"] == CARD

    # The e-library now lets the patron in, after the consent screen.
    consent = vendor_rp.authorize(scope="openid library_card")
    assert "/authorize/consent" in consent.headers["Location"]
    consent_page = browser.get(consent.headers["Location"])
    allowed = browser.post(
        "/authorize/consent",
        data={
            "rid": _rid(consent),
            "allow": "1",
            "csrf_token": csrf_token(consent_page.get_data(as_text=True)),
        },
    )
    vendor_tokens = vendor_rp.exchange(vendor_rp.code_from(allowed)).get_json()
    assert "access_token" in vendor_tokens

    # メールアドレスの登録方法: E-mail1, 申請受付確認メールを送信する → the mail arrives.
    saved = submit(
        browser,
        "/account",
        {
            "email": "hanako@example.jp",
            "notify_due_date": "y",
            "send_confirmation": "y",
            "current_password": "hon2468",
        },
    )
    assert saved.status_code == 302
    [mail] = mail_server.wait_for(1)
    assert mail["Subject"] == "利用者情報登録完了のお知らせ"
    assert browser.get(urlsplit(link_in(mail)).path).status_code == 200

    # パスワード再発行: card number + the confirmed address → a link → a new password (an
    # address confirmed at least IDP_REISSUE_EMAIL_MIN_AGE ago).
    clock.advance(days=1)
    submit(browser, "/password/reissue", {"card_number": CARD, "email": "hanako@example.jp"})
    reissue = mail_server.wait_for(2)[1]
    assert reissue["Subject"] == "パスワード再発行のお知らせ"
    path = urlsplit(link_in(reissue)).path
    assert browser.get(path).headers["Location"] == "/password/new"  # the link is spent
    new = {"new_password": "yomu1357", "new_password_confirm": "yomu1357"}
    done = submit(browser, "/password/new", new)
    assert done.status_code == 200
    fresh = rp.login(rp.authorize(), CARD, "yomu1357")
    assert rp.code_from(fresh)
