"""Real-browser helpers: Debian's Chromium driven by Playwright, screenshots, axe checks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
if os.environ.get("IDP_TEST_DATABASE_URL"):
    # CI runs the PostgreSQL pass beside the SQLite one: each keeps its own screenshots.
    ARTIFACTS /= "postgresql"
#: The closed network here refuses Chromium's own background connections; keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "mobile": {"width": 390, "height": 844},
    "desktop": {"width": 1280, "height": 900},
}


@contextmanager
def chromium() -> Iterator[Browser]:
    """Launch Debian's Chromium headless (Playwright never downloads a browser here)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/ (git-ignored; a PostgreSQL run's
    under tests/artifacts/postgresql/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations on the current page (labels, lang, contrast…)."""
    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]},
            "resultTypes": ["violations"],
        },
    )
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def virtual_authenticator(page: Page) -> tuple[Any, str]:
    """Give ``page`` Chromium's virtual WebAuthn authenticator (DevTools): a CTAP2 one with
    resident keys and user verification, as a phone's platform authenticator is.

    Returns the DevTools session and the authenticator's id.
    """
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])
