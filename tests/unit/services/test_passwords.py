"""Argon2 in a threaded worker: at most ``max_concurrent`` hashes at once per process."""

from __future__ import annotations

import subprocess
import sys
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


_THREADS_SCRIPT = """
import resource
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher

from idp.services.passwords import keep_one_argon2_block

def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

memory_kib = int(sys.argv[1])
assert keep_one_argon2_block(memory_kib)
hasher = PasswordHasher(time_cost=1, memory_cost=memory_kib, parallelism=1)
encoded = hasher.hash("x")
before = rss_kib()
with ThreadPoolExecutor(4) as pool:
    list(pool.map(lambda _: hasher.verify(encoded, "x"), range(16)))
grown = rss_kib() - before
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    hasher.verify(encoded, "x")
print(grown, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) // 10)
"""


def _growth_and_faults(memory_kib: int) -> tuple[int, int]:
    """RSS growth (KiB) after 16 verifications in four threads, and the page faults of
    each further verification."""
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _THREADS_SCRIPT, str(memory_kib)],
        capture_output=True,
        text=True,
        check=True,
    )
    grown, faults = result.stdout.split()
    return int(grown), int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_a_worker_keeps_one_argon2_block_and_reuses_it() -> None:
    # 16 MiB blocks, four threads at once: one block (and some slack) stays, not four.
    grown, faults = _growth_and_faults(16 * 1024)
    assert grown < (16 + 8) * 1024
    # The kept block's pages are reused: a fresh 16 MiB mapping would fault 4,096 pages.
    assert faults < 400


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_argon2_blocks_too_big_for_the_heap_go_back_to_the_system() -> None:
    # 40 MiB blocks are mapped alone (glibc's limit is 32 MiB) and unmapped when freed.
    grown, faults = _growth_and_faults(40 * 1024)
    assert grown < 16 * 1024
    assert faults > 40 * 256 // 2
