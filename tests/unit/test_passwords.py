"""Argon2 in a threaded worker: at most ``max_concurrent`` hashes at once per process."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from idp.services.passwords import Argon2Settings
from idp.services.passwords import Passwords


class _Watched:
    """The real hasher, counting how many calls run at once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def _enter(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)

    def _leave(self) -> None:
        with self.lock:
            self.running -= 1

    def verify(self, encoded: str, password: str) -> Any:
        self._enter()
        try:
            time.sleep(0.02)  # long enough for the other threads to arrive
            return self.inner.verify(encoded, password)
        finally:
            self._leave()

    def hash(self, password: str) -> str:
        self._enter()
        try:
            time.sleep(0.02)
            return str(self.inner.hash(password))
        finally:
            self._leave()


def _run(limit: int) -> tuple[int, list[bool]]:
    passwords = Passwords(
        Argon2Settings(time_cost=1, memory_cost=256, parallelism=1, max_concurrent=limit)
    )
    encoded = passwords.hash("correct horse")
    watched = _Watched(passwords._hasher)
    passwords._hasher = watched  # type: ignore[assignment]
    tries = ["correct horse", "wrong", "correct horse", "also wrong"] * 2
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: passwords.verify(encoded, p), tries))
        hashes = list(pool.map(passwords.hash, ["a", "b", "c", "d"]))
    assert all(h.startswith("$argon2id$") for h in hashes)
    return watched.most, results


@pytest.mark.parametrize("limit", [1, 2])
def test_verifications_wait_for_a_slot(limit: int) -> None:
    most, results = _run(limit)
    assert most == limit
    assert results == [True, False, True, False] * 2


def test_zero_means_no_limit() -> None:
    most, _ = _run(0)
    assert most > 2


def test_unknown_card_still_costs_a_verification_through_the_slot() -> None:
    passwords = Passwords(Argon2Settings(time_cost=1, memory_cost=256, parallelism=1))
    watched = _Watched(passwords._hasher)
    passwords._hasher = watched  # type: ignore[assignment]
    assert passwords.verify(None, "anything") is False
    assert watched.most == 1
