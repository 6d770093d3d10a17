"""Argon2id hashing on every core, for bulk work such as the patron import.

Argon2 is the cost of an import (tens of milliseconds a password by design), so the
passwords are hashed in a process pool, one process per core, in chunks; the results
come back in order so that the caller can store each chunk as soon as it is ready.
Workers import only argon2 (``spawn``: no copy of the caller's database connections).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2 import Type

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
