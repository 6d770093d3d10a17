"""Argon2 in a threaded worker: at most ``max_concurrent`` hashes at once per process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
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
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher

from idp.services.passwords import return_big_blocks_to_the_system

def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

if sys.argv[1] == "fixed":
    assert return_big_blocks_to_the_system()
hasher = PasswordHasher(time_cost=1, memory_cost=32 * 1024, parallelism=1)
encoded = hasher.hash("x")
before = rss_kib()
with ThreadPoolExecutor(4) as pool:
    list(pool.map(lambda _: hasher.verify(encoded, "x"), range(16)))
print(rss_kib() - before)
"""


def _growth_kib(mode: str) -> int:
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _THREADS_SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_argon2_blocks_go_back_to_the_system_after_each_thread() -> None:
    # 32 MiB Argon2 blocks in four threads: with the fixed threshold none is kept.
    assert _growth_kib("fixed") < 16 * 1024


_FAULTS_SCRIPT = """
import resource

from argon2 import PasswordHasher

from idp.services.passwords import return_big_blocks_to_the_system

assert return_big_blocks_to_the_system()
hasher = PasswordHasher(time_cost=1, memory_cost=19456, parallelism=1)
encoded = hasher.hash("x")
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    hasher.verify(encoded, "x")
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) // 5)
"""


def _faults_per_verification(tunables: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _FAULTS_SCRIPT], capture_output=True, text=True, check=True, env=env
    )
    return int(result.stdout.strip())


def _huge_pages_on_request() -> bool:
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return setting.exists() and "[never]" not in setting.read_text()


@pytest.mark.skipif(not _huge_pages_on_request(), reason="the kernel's huge pages are off")
def test_idp_serves_huge_pages_spare_the_kernel_zeroing_argon2_blocks_page_by_page() -> None:
    from idp.granian_conf import HUGE_PAGES

    # 19 MiB mapped afresh: 4,864 pages of 4 KiB faulted in for each verification.
    assert _faults_per_verification(None) > 4000
    # With what idp serve sets, a handful of 2 MiB pages.
    assert _faults_per_verification(HUGE_PAGES) < 1000
