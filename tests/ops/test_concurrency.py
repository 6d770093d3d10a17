"""Simultaneous requests against a live server: single use holds, card numbers stay unique.

On PostgreSQL when ``IDP_TEST_DATABASE_URL`` is set, else on SQLite (WAL, busy timeout).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models.patron import Patron
from tests.conftest import PORTAL_SECRET
from tests.ops.http_rp import HttpRelyingParty
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import make_client
from tests.support.factories import make_patron
from tests.support.live import LiveServer

RACERS = 6


def race(request: Callable[[], requests.Response]) -> list[int]:
    """Send ``request`` from RACERS threads released at the same instant; their statuses."""
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        status = request().status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(statuses)


@pytest.fixture
def party(live_server: LiveServer) -> HttpRelyingParty:
    client = make_client("portal", secret=PORTAL_SECRET)
    return HttpRelyingParty("portal", PORTAL_SECRET, client.redirect_uris[0])


@pytest.fixture
def card(live_server: LiveServer) -> str:
    return make_patron("0300000077").card_number


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_redemptions_of_one_code_give_one_success(
    live_server: LiveServer, party: HttpRelyingParty, card: str, attempt: int
) -> None:
    code = party.sign_in(live_server.url, card, DEFAULT_PASSWORD)
    data = party.exchange_data(code)
    statuses = race(lambda: party.token(live_server.url, data))
    assert statuses == [200] + [400] * (RACERS - 1)


@pytest.fixture
def no_grace(app_config: dict[str, Any]) -> None:
    """No retry grace: every redemption after the first is reuse."""
    app_config["IDP_REFRESH_REUSE_GRACE"] = 0


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_refreshes_of_one_token_give_one_success(
    no_grace: None, live_server: LiveServer, party: HttpRelyingParty, card: str, attempt: int
) -> None:
    tokens = party.tokens(live_server.url, party.sign_in(live_server.url, card, DEFAULT_PASSWORD))
    refresh = tokens["refresh_token"]
    statuses = race(lambda: party.refresh(live_server.url, refresh))
    assert statuses == [200] + [400] * (RACERS - 1)


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_refreshes_within_the_grace_leave_at_most_one_live_token(
    live_server: LiveServer, party: HttpRelyingParty, card: str, attempt: int
) -> None:
    """With the retry grace, a second redemption may succeed as a retry, but it ends
    the pair of the first: never two usable refresh tokens from one."""
    tokens = party.tokens(live_server.url, party.sign_in(live_server.url, card, DEFAULT_PASSWORD))
    refresh = tokens["refresh_token"]
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> requests.Response:
        answer = party.refresh(live_server.url, refresh)
        with lock:
            answers.append(answer)
        return answer

    statuses = race(send)
    assert statuses.count(200) in {1, 2}
    assert set(statuses) <= {200, 400}
    issued = [a.json()["refresh_token"] for a in answers if a.status_code == 200]
    usable = [t for t in issued if party.refresh(live_server.url, t).status_code == 200]
    assert len(usable) <= 1


def test_the_database_refuses_a_second_patron_with_the_same_card_number(app: Any) -> None:
    indexes = inspect(db.engine).get_indexes("patrons")
    assert any(ix["column_names"] == ["card_number"] and ix["unique"] for ix in indexes)
    make_patron("0300000099")
    twin = Patron(
        card_number="0300000099",
        password_hash="x",
        is_temporary_password=False,
        expires_on=make_patron().expires_on,
    )
    db.session.add(twin)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert db.session.query(Patron).filter_by(card_number="0300000099").count() == 1
