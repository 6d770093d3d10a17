"""What a new patron sees, in headless Chromium: passwords not cut off, the e-library
detour, the language, the portal's name, the start, help and logged-out pages.

Each screen is screenshotted into tests/artifacts/ and checked with axe-core.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page
from playwright.sync_api import Route

from idp.extensions import db
from idp.models.patron import Patron
from tests.e2e.browser import VIEWPORTS
from tests.e2e.browser import accessibility_violations
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

VENDOR_CALLBACK = "https://d-library.example.jp/callback"
CARD = "0300000000"
TEMPORARY = "12345678"


def _check(page: Page, name: str) -> None:
    screenshot(page, name)
    violations = accessibility_violations(page)
    assert not violations, [(v["id"], v["help"], len(v["nodes"])) for v in violations]


def _authorize_url(server: LiveServer, client_id: str, redirect_uri: str, **extra: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid",
        "state": "s-" + secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{server.url}/authorize?{urlencode(params)}"


def _e_library() -> None:
    make_client(
        "d-library",
        name="電子図書館",
        redirect_uris=[VENDOR_CALLBACK],
        first_party=False,
        policy="deny",
        subject_type="pairwise",
        scopes=["openid"],
    )


def _log_in(page: Page, card: str, password: str, *, english: bool = False) -> None:
    page.get_by_label("Library card number" if english else "貸出カード番号").fill(card)
    page.get_by_label("Password" if english else "パスワード", exact=True).fill(password)
    page.get_by_role("button", name="Log in" if english else "ログイン", exact=True).click()


def _change(page: Page, current: str, new: str) -> None:
    page.get_by_label("仮パスワード").fill(current)
    page.get_by_label("新パスワード", exact=True).fill(new)
    page.get_by_label("新パスワード(確認用)").fill(new)
    page.get_by_role("button", name="更新").click()


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_a_long_new_password_is_refused_as_too_long_not_cut_off(
    live_server: LiveServer, viewport: str
) -> None:
    patron = make_patron(CARD, password=TEMPORARY, temporary=True)
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP")
        page.goto(f"{live_server.url}/account")
        _log_in(page, CARD, TEMPORARY)
        page.wait_for_url("**/password/change")
        for field in page.locator("input[type=password]").all():
            assert field.get_attribute("maxlength") is None
        for length in (21, 22):
            _change(page, TEMPORARY, "hon2468library" + "x" * (length - 14))
            alert = page.get_by_role("alert").inner_text()
            assert "新パスワードが長すぎます。" in alert, alert
        _check(page, f"ux-too-long-{viewport}")
    db.session.expire_all()
    assert db.session.get(Patron, patron.id).is_temporary_password  # type: ignore[union-attr]


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_e_library_detour_changes_the_password_and_continues(
    live_server: LiveServer, viewport: str
) -> None:
    make_patron(CARD, password=TEMPORARY, temporary=True)
    _e_library()
    reached: list[str] = []

    def vendor(route: Route) -> None:
        reached.append(route.request.url)
        route.fulfill(status=200, body="vendor")

    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP")
        page.route(f"{VENDOR_CALLBACK}**", vendor)
        page.goto(_authorize_url(live_server, "d-library", VENDOR_CALLBACK))
        _log_in(page, CARD, TEMPORARY)
        alert = page.get_by_role("alert").inner_text()
        assert "仮パスワードではログインできません。Myライブラリで仮パスワードを変更" in alert
        # The login form is demoted: not offered again for the same temporary password.
        assert not page.get_by_label("貸出カード番号").is_visible()
        assert page.get_by_role("button", name="電子図書館へ戻る").is_visible()
        _check(page, f"ux-detour-refusal-{viewport}")

        page.get_by_role("link", name="仮パスワードを変更する").click()
        page.wait_for_url("**/password/change")  # straight to the form, no second login
        _check(page, f"ux-detour-change-{viewport}")
        _change(page, TEMPORARY, "hon2468")

        notice = page.get_by_role("status").first.inner_text()
        assert "パスワードの変更を受け付けました。" in notice
        assert "ログインすると電子図書館へ進みます。" in notice
        _check(page, f"ux-detour-login-again-{viewport}")
        _log_in(page, CARD, "hon2468")
        page.get_by_role("button", name="許可する").click()
        page.wait_for_url(f"{VENDOR_CALLBACK}**")
    assert [url for url in reached if "code=" in url]


def test_ui_locales_reaches_the_login_page(live_server: LiveServer) -> None:
    _e_library()
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(_authorize_url(live_server, "d-library", VENDOR_CALLBACK, ui_locales="en-US"))
        page.wait_for_url("**/login?rid=*")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_label("Library card number").is_visible()
        _check(page, "ux-ui-locales-login")


def test_the_chosen_language_survives_logout(live_server: LiveServer) -> None:
    make_patron(CARD)
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(f"{live_server.url}/account")
        page.get_by_role("link", name="English").click()
        _log_in(page, CARD, DEFAULT_PASSWORD, english=True)
        page.wait_for_url("**/account")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/logged-out")
        assert page.locator("html").get_attribute("lang") == "en"
        assert "You have been logged out." in page.get_by_role("status").inner_text()
        page.goto(f"{live_server.url}/login")
        assert page.get_by_label("Library card number").is_visible()
        cookie = next(c for c in page.context.cookies() if c["name"] == "idp_lang")
        assert cookie["value"] == "en" and cookie["expires"] > 0


def test_protocol_error_pages_are_in_japanese(live_server: LiveServer) -> None:
    _e_library()
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(_authorize_url(live_server, "d-library", "https://evil.example/cb"))
        text = page.locator("main").inner_text()
        assert "このサービスが指定した戻り先は登録されていません。" in text
        assert "Redirect URI" not in text and "is not supported" not in text
        _check(page, "ux-protocol-error")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_portal_name_home_help_logout(live_server: LiveServer, viewport: str) -> None:
    make_patron(CARD, name="図書 花子")
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport], locale="ja-JP")
        page.goto(live_server.url + "/")
        assert page.title() == "Myライブラリ"
        assert "Myライブラリ" in page.locator("header").inner_text()
        main = page.locator("main")
        for name in ("貸出カード", "利用者情報", "パスワード再発行", "ヘルプ"):
            assert main.get_by_role("link", name=name, exact=True).is_visible(), name
        _check(page, f"ux-home-{viewport}")

        main.get_by_role("link", name="ヘルプ", exact=True).click()
        page.wait_for_url("**/help")
        assert "仮パスワードとは？" in page.content()
        assert "スクリーンショット" in page.content()
        _check(page, f"ux-help-{viewport}")

        page.goto(f"{live_server.url}/card")
        assert page.title() == "ログイン - Myライブラリ"
        _log_in(page, CARD, DEFAULT_PASSWORD)
        page.wait_for_url("**/card")
        for path in ("/card", "/account", "/password/change", "/"):
            page.goto(live_server.url + path)
            assert page.locator("header").get_by_role("button", name="ログアウト").is_visible()
        page.locator("header").get_by_role("button", name="ログアウト").click()
        page.wait_for_url("**/logged-out")
        assert "ログアウトしました" in page.get_by_role("status").inner_text()
        assert page.locator("header").get_by_role("button", name="ログアウト").count() == 0
        _check(page, f"ux-logged-out-{viewport}")


def test_japanese_text_has_no_stray_spaces_around_names(live_server: LiveServer) -> None:
    make_patron(CARD, password=TEMPORARY, temporary=True)
    _e_library()
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(_authorize_url(live_server, "d-library", VENDOR_CALLBACK))
        assert "電子図書館を利用するためにログインします" in page.locator("main").inner_text()
        _log_in(page, CARD, TEMPORARY)
        text: Any = page.locator("main").inner_text()
        assert "電子図書館へ戻る" in text
        for stray in ("電子図書館 を", "電子図書館 へ", " さん", ":"):
            assert stray not in text, stray
