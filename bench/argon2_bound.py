"""The Argon2 bound: password verifications per second on all cores with the configured
parameters. No login flow can beat it, since each one verifies one password."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

from argon2 import PasswordHasher
from argon2 import Type

from idp.settings.sections.patrons import DEFAULT_ARGON2_MEMORY_COST
from idp.settings.sections.patrons import DEFAULT_ARGON2_TIME_COST

PASSWORD = "bench-yomu-2468"


def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


def _verify_for(seconds: float, encoded: str, params: tuple[int, int, int]) -> int:
    hasher = _hasher(*params)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(encoded, PASSWORD)
        done += 1
    return done


def argon2_bound(
    seconds: float,
    *,
    processes: int | None = None,
    time_cost: int = DEFAULT_ARGON2_TIME_COST,
    memory_cost: int = DEFAULT_ARGON2_MEMORY_COST,
    parallelism: int = 1,
) -> float:
    """Verifications per second with one process per core, each verifying in a loop."""
    processes = processes or os.cpu_count() or 1
    params = (time_cost, memory_cost, parallelism)
    encoded = _hasher(*params).hash(PASSWORD)
    with ProcessPoolExecutor(processes) as pool:
        started = time.perf_counter()
        counts = list(
            pool.map(
                _verify_for, [seconds] * processes, [encoded] * processes, [params] * processes
            )
        )
        elapsed = time.perf_counter() - started
    return sum(counts) / elapsed


if __name__ == "__main__":
    print(f"{argon2_bound(3.0):.1f} verifications/s")
