"""The Device Authorization Grant in a real browser: a kiosk polls, the patron approves.

The device is a real HTTP client on loopback (``requests``); the patron opens the
``verification_uri_complete`` in headless Chromium, signs in on the hosted login page and
allows the kiosk. The page is checked with axe-core like the other hosted pages.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from tests.conftest import Clock
from tests.e2e.browser import accessibility_violations
from tests.e2e.browser import chromium
from tests.e2e.browser import screenshot
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SECRET = "kiosk-secret-0123456789-abcdefghijklmnopq"


class Poller:
    """A device that polls the token endpoint until it gets an answer other than pending.

    The test's clock stands still, so the poller moves it on by the interval before each
    poll (as a real device waits); the interval is 1 s here, so the device code outlives
    the browser's part.
    """

    def __init__(self, server: LiveServer, clock: Clock, device_code: str, interval: int) -> None:
        self.server = server
        self.clock = clock
        self.device_code = device_code
        self.interval = interval
        self.answers: list[dict[str, Any]] = []
        self.approved = threading.Event()

    def poll(self) -> dict[str, Any]:
        self.clock.advance(seconds=self.interval)
        response = requests.post(
            f"{self.server.url}/token",
            data={"grant_type": DEVICE_GRANT, "device_code": self.device_code},
            auth=("kiosk", SECRET),
            timeout=10,
        )
        body: dict[str, Any] = response.json()
        self.answers.append(body)
        return body

    def run(self) -> None:
        for _ in range(240):
            body = self.poll()
            if body.get("error") != "authorization_pending":
                return
            self.approved.wait(0.25)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "IDP_DEVICE_POLL_INTERVAL": 1}


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_kiosk_gets_tokens_after_the_patron_allows_it_in_the_browser(
    live_server: LiveServer, clock: Clock, decision: str
) -> None:
    make_client(
        "kiosk",
        name="館内キオスク",
        secret=SECRET,
        first_party=False,
        policy="deny",
        grant_types=[DEVICE_GRANT],
    )
    patron = make_patron(name="図書館 花子")
    start = requests.post(
        f"{live_server.url}/device_authorization",
        data={"scope": "openid profile"},
        auth=("kiosk", SECRET),
        timeout=10,
    ).json()
    poller = Poller(live_server, clock, start["device_code"], start["interval"])
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    with chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(start["verification_uri_complete"])
        assert page.locator("input[name=user_code]").input_value() == start["user_code"]
        page.get_by_role("button", name="次へ").click()
        page.fill("input[name=card_number]", patron.card_number)
        page.fill("input[name=password]", DEFAULT_PASSWORD)
        page.locator("form button.primary").click()
        page.wait_for_url("**/device/confirm")
        assert "館内キオスク" in page.content()
        assert start["user_code"] in page.content()
        violations = accessibility_violations(page)
        assert not violations, [(v["id"], v["help"]) for v in violations]
        screenshot(page, f"device-confirm-{decision}")
        page.get_by_role("button", name="許可する" if decision == "allow" else "許可しない").click()
        page.wait_for_selector("p[role=status]")
        poller.approved.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert poller.answers[0]["error"] == "authorization_pending"
    assert all(a.get("error") != "slow_down" for a in poller.answers)
    last = poller.answers[-1]
    if decision == "deny":
        assert last["error"] == "access_denied"
        return
    assert last["token_type"] == "Bearer", last
    info = requests.get(
        f"{live_server.url}/userinfo",
        headers={"Authorization": f"Bearer {last['access_token']}"},
        timeout=10,
    ).json()
    assert info["name"] == "図書館 花子"


def test_simultaneous_devices_each_get_their_own_user_code(live_server: LiveServer) -> None:
    """The endpoint object is shared by the server's threads: no code pair may mix."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import select

    from idp.extensions import db
    from idp.models.device import DeviceAuthorization
    from idp.oauth.tokens import token_hash

    make_client("kiosk", secret=SECRET, grant_types=[DEVICE_GRANT])

    def start(_: int) -> dict[str, Any]:
        body: dict[str, Any] = requests.post(
            f"{live_server.url}/device_authorization",
            data={"scope": "openid"},
            auth=("kiosk", SECRET),
            timeout=10,
        ).json()
        return body

    with ThreadPoolExecutor(8) as pool:
        pairs = list(pool.map(start, range(24)))
    stored = {
        row.device_code_hash: row.user_code
        for row in db.session.scalars(select(DeviceAuthorization))
    }
    assert len(stored) == 24
    for pair in pairs:
        assert stored[token_hash(pair["device_code"])] == pair["user_code"].replace("-", "")
