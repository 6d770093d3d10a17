"""The card verification scenario: a desk checks patrons' rotating card codes.

Each code (card number + 6-digit time-based code) is accepted once, so the codes are
computed beforehand for the seeded patrons — the previous time step's (the desk accepts
one earlier step), then the current step's — through the product's own code
functions in an in-process app on the same instance, and each is sent once.
"""

from __future__ import annotations

import os
import random
import time
from typing import TYPE_CHECKING
from typing import Any

import requests

from bench.seed_patrons import card_number
from idp.cli.demo import DEMO_SECRETS

if TYPE_CHECKING:
    from bench.run import Bench

#: Cards whose codes are computed for one run (two codes each).
MAX_CARDS = 40_000
DESK = ("circulation-desk", DEMO_SECRETS["CIRCULATION_DESK_CLIENT_SECRET"])


class CardVerify:
    """Compute codes, get a desk token, run wrk."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    def _codes(self, count: int) -> list[str]:
        import importlib

        from idp import create_app

        # Present only in builds with the card API (the scenario is skipped otherwise).
        current_code = importlib.import_module("idp.services.cards.codes").current_code
        card_service = importlib.import_module("idp.services.cards.service").card_service

        saved = dict(os.environ)
        os.environ.update(self.bench.instance.env)
        try:
            app = create_app()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        with app.app_context():
            settings = card_service().codes
        step = settings.step_seconds
        # Start just after a step boundary when the run would cross one, so that the
        # previous step's codes stay accepted for the whole run.
        left = step - time.time() % step
        if left < self.bench.args.duration + 2:
            time.sleep(left + 0.2)
        # At most MAX_CARDS cards, spread over every seeded one (a 1M-patron run looks up
        # cards all over the table, not only the first rows).
        cards = sorted(random.sample(range(count), min(count, MAX_CARDS)))
        random.shuffle(cards)
        now = time.time()
        current = [current_code(settings, card_number(i), now).value for i in cards]
        previous = [current_code(settings, card_number(i), now - step).value for i in cards]
        # A card's code is refused once a code of the same or a later step was accepted
        # (RFC 6238 §5.2), so the previous step's codes go first.
        return previous + current

    def run(self) -> dict[str, Any]:
        from bench.run import _summary

        response = requests.post(
            f"{self.bench.url}/token",
            data={"grant_type": "client_credentials", "scope": "card:verify"},
            auth=DESK,
            timeout=10,
        )
        response.raise_for_status()
        token = response.json()["access_token"]
        codes = self._codes(self.bench.args.patrons)
        path = self.bench.work / "card-codes.txt"
        path.write_text("\n".join(codes) + "\n")
        # One connection per wrk thread: see _summary(exact=True).
        threads = self.bench.args.concurrency
        result = self.bench.wrk("verify", [str(path), str(threads), token], threads=threads)
        return _summary(
            result,
            exact=True,
            codes=len(codes),
            codes_ran_out=result.raw["requests"] > len(codes),
        )
