"""The staff console in Debian's Chromium: enrolment with a passkey (Chromium's virtual
WebAuthn authenticator) and with TOTP, sign-in, each role's allowed and forbidden
actions, issue → printed notice → the patron signs in, and the desk scan page with a
code from the patron's own card page (valid, then replayed). Screens go to
tests/artifacts/ and through axe-core's WCAG A/AA check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.e2e.browser import VIEWPORTS
from tests.e2e.browser import accessibility_violations
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.e2e.browser import virtual_authenticator
from tests.staff.conftest import make_staff
from tests.support.live import LiveServer
from tests.support.live import serve

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "the quiet stacks at nine"
COUNTER_PASSWORD = "returns go on the trolley"


@pytest.fixture
def console(app_config: dict[str, Any], clock: Any) -> Iterator[LiveServer]:
    """The provider on loopback as http://localhost:PORT: WebAuthn needs a host name."""
    with serve(app_config, clock=clock, host="localhost") as server:
        yield server


def _check(page: Page, name: str) -> None:
    screenshot(page, f"staff-{name}")
    violations = accessibility_violations(page)
    assert not violations, (name, [(v["id"], v["help"], len(v["nodes"])) for v in violations])


def _cli(server: LiveServer, *args: str) -> str:
    result = server.app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _link(text: str) -> str:
    match = re.search(r"http://localhost:\d+/staff/enrol/[\w-]+", text)
    assert match, text
    return match.group(0)


def _new_page(browser: Browser, viewport: str = "desktop") -> Page:
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="ja-JP")
    return context.new_page()


def _choose_password(page: Page, password: str) -> None:
    page.get_by_label("新しいパスワード（12文字以上）").fill(password)
    page.get_by_label("新しいパスワード（確認）").fill(password)
    page.get_by_role("button", name="次へ").click()
    page.wait_for_url("**/factor")


def _password_step(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/staff/login")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="次へ").click()
    page.wait_for_url("**/staff/login/second")


def _totp_sign_in(
    page: Page, url: str, username: str, password: str, secret: str, clock: Any
) -> None:
    _password_step(page, url, username, password)
    page.get_by_label("認証アプリの6桁のコード").fill(pyotp.TOTP(secret).at(clock.now))
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(f"{url}/staff/")


def test_staff_console_in_the_browser(console: LiveServer, clock: Any) -> None:
    url = console.url
    with chromium() as browser:
        # 1. The first administrator: `idp staff add`, the link, a passkey.
        admin_link = _link(
            _cli(console, "staff", "add", "chief", "--role", "admin", "--name", "館長")
        )
        admin = _new_page(browser)
        virtual_authenticator(admin)
        admin.goto(admin_link)
        _check(admin, "enrol-password")
        _choose_password(admin, ADMIN_PASSWORD)
        _check(admin, "enrol-factor")
        admin.get_by_role("button", name="パスキーを作成").click()
        expect(admin.get_by_role("heading", name="登録が完了しました")).to_be_visible()
        assert len(admin.locator(".recovery-codes li").all()) == 10
        _check(admin, "enrol-recovery-codes")

        # 2. Sign in with password and passkey.
        admin.goto(f"{url}/staff/login")
        _check(admin, "login")
        _password_step(admin, url, "chief", ADMIN_PASSWORD)
        _check(admin, "second-factor-passkey")
        admin.get_by_role("button", name="パスキーを使う").click()
        admin.wait_for_url(f"{url}/staff/")
        _check(admin, "start-page-admin")

        # 3. The administrator creates a counter account in the browser.
        admin.get_by_role("link", name="職員アカウント").click()
        admin.get_by_label("ユーザー名").fill("desk1")
        admin.get_by_label("役割").select_option("counter")
        admin.get_by_label("氏名（任意）").fill("窓口 一郎")
        admin.get_by_role("button", name="追加して登録用リンクを表示").click()
        counter_link = admin.get_by_label("登録用リンク").input_value()
        _check(admin, "enrolment-link")

        # 4. The counter's PC has no passkey: enrol an authenticator app (TOTP).
        desk = _new_page(browser)
        desk.goto(counter_link)
        _choose_password(desk, COUNTER_PASSWORD)
        secret = (desk.locator(".totp-key").text_content() or "").replace(" ", "")
        desk.get_by_label("認証アプリの6桁のコード").fill(pyotp.TOTP(secret).at(clock.now))
        desk.get_by_role("button", name="コードを確認").click()
        expect(desk.get_by_role("heading", name="登録が完了しました")).to_be_visible()
        clock.advance(seconds=30)  # the next code: each one is accepted once
        _totp_sign_in(desk, url, "desk1", COUNTER_PASSWORD, secret, clock)

        # 5. Issue a card: the notice shows the temporary password once.
        desk.get_by_role("link", name="カードの発行").first.click()
        _check(desk, "issue")
        desk.get_by_label("貸出カード番号").fill("0300000888")
        desk.get_by_label("貸出カード有効期限日").fill("2030-03-31")
        desk.get_by_label("氏名（任意）").fill("新井 読子")
        desk.get_by_role("button", name="発行して通知書を表示").click()
        expect(desk.get_by_role("button", name="この通知書を印刷")).to_be_visible()
        temporary = desk.locator("td .value").first.text_content() or ""
        assert re.fullmatch(r"\d{8}", temporary)
        screenshot(desk, "staff-notice")
        desk.reload()
        assert temporary not in desk.content()
        desk.go_back()
        assert temporary not in desk.content()

        # 6. The patron signs in with it, changes it, and opens the card page.
        patron = _new_page(browser, "mobile")
        patron.goto(f"{url}/card")
        patron.get_by_label("貸出カード番号").fill("0300000888")
        patron.get_by_label("パスワード").fill(temporary)
        patron.get_by_role("button", name="ログイン", exact=True).click()
        patron.wait_for_url("**/password/change**")
        patron.get_by_label("仮パスワード").fill(temporary)
        patron.get_by_label("新パスワード", exact=True).fill("yomu8642")
        patron.get_by_label("新パスワード(確認用)").fill("yomu8642")
        patron.get_by_role("button", name="更新").click()
        patron.get_by_label("貸出カード番号").fill("0300000888")
        patron.get_by_label("パスワード").fill("yomu8642")
        patron.get_by_role("button", name="ログイン", exact=True).click()
        patron.goto(f"{url}/card")
        code = patron.locator("#card-bars text").text_content() or ""
        assert code.startswith("0300000888") and len(code) == 16

        # 7. The desk scans the phone: valid, then the same code again is refused.
        desk.goto(f"{url}/staff/scan")
        desk.get_by_label("バーコードを読み取るか数字を入力").fill(code)
        desk.keyboard.press("Enter")
        expect(desk.get_by_text("有効なカード")).to_be_visible()
        card = desk.locator("#scan-card")
        expect(card).to_have_value("0300000888")
        expect(card).to_be_focused()
        _check(desk, "scan-valid")
        desk.keyboard.type(code)  # the scanner types the next scan; it lands in the field
        desk.keyboard.press("Enter")
        expect(desk.get_by_text("このコードは使用済みです")).to_be_visible()
        _check(desk, "scan-replayed")
        desk.get_by_label("バーコードを読み取るか数字を入力").fill("0300000888")
        desk.keyboard.press("Enter")
        expect(desk.locator(".scan-verdict")).to_contain_text("印刷されたカード")
        desk.set_viewport_size(VIEWPORTS["mobile"])
        screenshot(desk, "staff-scan-plain-mobile")
        desk.set_viewport_size(VIEWPORTS["desktop"])

        # 8. The patron page: reset the password (notice again), renew, unlock.
        desk.goto(f"{url}/staff/")
        desk.get_by_label("貸出カード番号").fill("0300000888")
        desk.get_by_role("button", name="開く").click()
        expect(desk.get_by_role("heading", name=re.compile("0300000888"))).to_be_visible()
        _check(desk, "patron")
        desk.set_viewport_size(VIEWPORTS["mobile"])
        screenshot(desk, "staff-patron-mobile")
        desk.set_viewport_size(VIEWPORTS["desktop"])
        desk.get_by_label("新しい有効期限").fill("2031-03-31")
        desk.locator("#renew-reason").fill("更新手続き")
        desk.get_by_role("button", name="更新", exact=True).click()
        expect(desk.get_by_text("カードを更新しました。")).to_be_visible()
        desk.get_by_role("link", name="パスワードの再設定").click()
        desk.get_by_label("理由（監査ログに記録されます）").fill("パスワード忘れ・本人確認済み")
        desk.get_by_role("button", name="再設定して通知書を表示").click()
        expect(desk.get_by_role("button", name="この通知書を印刷")).to_be_visible()

        # 9. A counter account may not set a status or read reports: 403, audited.
        desk.goto(f"{url}/staff/reports")
        expect(desk.get_by_role("heading", name="許可されていません")).to_be_visible()
        _check(desk, "forbidden")

        # 10. A supervisor: status, reports, audit log with the counter's actions.
        boss = make_staff("boss", "supervisor", name="主任")
        clock.advance(days=2)  # the reset's temporary password is now two days old
        lead = _new_page(browser)
        _password_step(lead, url, "boss", boss.password)
        _check(lead, "second-factor-totp")
        lead.get_by_label("認証アプリの6桁のコード").fill(pyotp.TOTP(boss.secret).at(clock.now))
        lead.get_by_role("button", name="ログイン", exact=True).click()
        lead.wait_for_url(f"{url}/staff/")
        lead.get_by_label("氏名またはメールアドレス").fill("新井")
        lead.get_by_role("button", name="検索").click()
        lead.get_by_role("link", name="0300000888").click()
        lead.get_by_label("新しい状態").select_option("suspended")
        lead.locator("#status-reason").fill("本人から利用停止の申し出")
        lead.get_by_role("button", name="状態を変更").click()
        expect(lead.get_by_text("カードの状態を変更しました。")).to_be_visible()
        lead.goto(f"{url}/staff/reports/temporary-unchanged?days=1")
        _check(lead, "report")
        with lead.expect_download() as download:
            lead.get_by_role("link", name="CSV（Excel）をダウンロード").click()
        body = Path(download.value.path()).read_bytes()
        assert body.startswith(b"\xef\xbb\xbf") and b"0300000888" in body
        lead.goto(f"{url}/staff/audit?staff=desk1")
        audit = lead.content()
        for event in (
            "patron.issued",
            "card.verified",
            "card.refused",
            "password.reset",
            "staff.forbidden",
        ):
            assert event in audit, event
        _check(lead, "audit")
