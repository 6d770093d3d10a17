"""Fixtures every test folder may use (registered from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer
from tests.support.live import serve
from tests.support.mailserver import MailServer
from tests.support.network import ReservedPort
from tests.support.network import self_signed


@pytest.fixture
def live_server(app_config: dict[str, Any], clock: Any) -> Iterator[LiveServer]:
    """The IdP on http://127.0.0.1:PORT (its issuer), on the test's database and clock."""
    with serve(app_config, clock=clock) as server:
        yield server


@pytest.fixture
def reserve_port() -> Iterator[Callable[[], int]]:
    """``reserve_port()``: a loopback port held for this test alone until it ends, for a
    server that needs its port before it starts (:class:`tests.support.network.ReservedPort`).
    """
    held: list[ReservedPort] = []

    def reserve() -> int:
        held.append(ReservedPort())
        return held[-1].port

    yield reserve
    for reservation in held:
        reservation.close()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server on loopback that wants AUTH; it keeps what it receives."""
    server = MailServer(auth=True).start()
    yield server
    server.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    return self_signed(tmp_path)
