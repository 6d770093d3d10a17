"""Password hashing with Argon2id (argon2-cffi), and temporary-password generation.

:class:`Passwords` hashes and verifies one password at a time for the request paths.
:func:`hash_chunks` hashes on every core, for bulk work such as the patron import:
Argon2 is the cost of an import (tens of milliseconds a password by design), so the
passwords are hashed in a process pool, one process per core, in chunks; the results
come back in order so that the caller can store each chunk as soon as it is ready.
Workers import only this module and argon2 (``spawn``: no copy of the caller's database
connections).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

from idp.settings.sections.patrons import DEFAULT_ARGON2_MEMORY_COST
from idp.settings.sections.patrons import DEFAULT_ARGON2_TIME_COST


@dataclass(frozen=True)
class Argon2Settings:
    """Argon2id cost parameters (by default OWASP's 9 MiB row, as ``IDP_ARGON2_*``)."""

    time_cost: int = DEFAULT_ARGON2_TIME_COST
    memory_cost: int = DEFAULT_ARGON2_MEMORY_COST
    parallelism: int = 1
    #: Hashes and verifications running at once in one process (0: no limit). Each one
    #: holds ``memory_cost`` KiB: with threaded workers, four at once add 76 MiB to the
    #: worker. Argon2 runs outside the GIL, so one at a time per process still keeps every
    #: core busy when there is one worker process per core (or more), as in production.
    max_concurrent: int = 1


#: ``mallopt`` parameter number of ``M_MMAP_THRESHOLD`` (glibc ``malloc.h``).
_M_MMAP_THRESHOLD = -3
#: Blocks at least this big are mapped on their own and handed back when freed.
_MMAP_THRESHOLD = 1024 * 1024
#: glibc's ``M_ARENA_MAX``, and the number of malloc arenas a worker may use.
_M_ARENA_MAX = -8
_ARENA_MAX = 1


def return_big_blocks_to_the_system() -> bool:
    """Fix glibc's mmap threshold at 1 MiB: big blocks are mapped alone, unmapped when freed.

    Also caps glibc's malloc arenas at two: by default each request thread of a
    threaded worker gets an arena of its own (up to eight per core), each keeping the
    freed memory of that thread's requests; two arenas cost no measurable speed here.

    Each Argon2 computation allocates ``memory_cost`` KiB (9 MiB by default). After such
    a block is freed glibc raises its mmap threshold, and with it the heap trim
    threshold, to the block's size, so that a threaded worker's heaps keep tens of MiB
    they no longer use. A fixed threshold turns that adjustment off: in the benchmark
    (4 threads per worker, logins) peak RSS went from 189 to 131 MB per worker. Does
    nothing off glibc. A fresh mapping costs the kernel a fault and a zeroed page per
    4 KiB page; ``idp serve`` has glibc ask for huge pages instead
    (:func:`idp.granian_conf.with_huge_pages`).

    :return: True when the threshold was set.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, _ARENA_MAX)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


class Passwords:
    """Hash, verify and re-hash patron passwords."""

    def __init__(self, settings: Argon2Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_cost,
            parallelism=settings.parallelism,
            type=Type.ID,
        )
        return_big_blocks_to_the_system()
        self._slots: AbstractContextManager[Any] = (
            threading.BoundedSemaphore(settings.max_concurrent)
            if settings.max_concurrent > 0
            else nullcontext()
        )
        # Verified when the card number is unknown, so that an unknown card costs the
        # same time as a wrong password (SPEC §4: same message, same timing).
        self._dummy_hash = self.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        """Return the Argon2id hash of ``password``."""
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Check ``password`` against ``password_hash`` in constant time.

        With ``password_hash=None`` a dummy hash is verified and ``False`` returned.
        """
        try:
            with self._slots:
                verified = self._hasher.verify(password_hash or self._dummy_hash, password)
            return verified and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)


def generate_temporary_password(length: int = 8) -> str:
    """A random temporary password of ``length`` digits (SPEC §1)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


# Bulk hashing in a process pool (the patron import).

_hasher: PasswordHasher | None = None


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost parameters (as in ``IDP_ARGON2_*``)."""

    time_cost: int
    memory_cost: int
    parallelism: int

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
            type=Type.ID,
        )


def _init_worker(params: HashParams) -> None:
    global _hasher
    _hasher = params.hasher()


def _hash_chunk(passwords: list[str]) -> tuple[list[str], float]:
    assert _hasher is not None  # noqa: S101 - set by the pool initializer
    started = time.perf_counter()
    hashes = [_hasher.hash(p) for p in passwords]
    return hashes, time.perf_counter() - started


@dataclass
class HashStats:
    """How much hashing was done and how long it took inside the hashing processes."""

    hashed: int = 0
    seconds: float = 0.0

    def bound(self, cores: int | None = None) -> float:
        """Hashes per second if every core did nothing else (0.0 before any hash)."""
        if not self.hashed or self.seconds <= 0:
            return 0.0
        return (cores or os.cpu_count() or 1) * self.hashed / self.seconds


def hash_chunks(
    chunks: Iterable[list[str]], params: HashParams, *, jobs: int, stats: HashStats
) -> Iterator[list[str]]:
    """Hash each chunk of passwords; yield the hashes chunk by chunk, in order.

    :param jobs: processes; 1 hashes in this process.
    :param stats: updated with the count and the time spent hashing.
    """
    if jobs <= 1:
        hasher = params.hasher()
        for chunk in chunks:
            started = time.perf_counter()
            hashes = [hasher.hash(p) for p in chunk]
            stats.hashed += len(hashes)
            stats.seconds += time.perf_counter() - started
            yield hashes
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init_worker, initargs=(params,)
    )
    pending: deque[Future[tuple[list[str], float]]] = deque()
    source: Iterator[list[str] | None] = iter(chunks)
    try:
        while True:
            # Keep every process busy with a second chunk queued behind the first.
            while len(pending) < 2 * jobs:
                queued = next(source, None)
                if queued is None:
                    break
                pending.append(pool.submit(_hash_chunk, queued))
            if not pending:
                return
            hashes, seconds = pending.popleft().result()
            stats.hashed += len(hashes)
            stats.seconds += seconds
            yield hashes
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
