"""Password hashing with Argon2id (argon2-cffi), and temporary-password generation."""

from __future__ import annotations

import ctypes
import secrets
import threading
from contextlib import AbstractContextManager
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError


@dataclass(frozen=True)
class Argon2Settings:
    """Argon2id cost parameters (OWASP minimum by default)."""

    time_cost: int = 2
    memory_cost: int = 19456
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

    Each Argon2 computation allocates ``memory_cost`` KiB (19 MiB by default). After such
    a block is freed glibc raises its mmap threshold, and with it the heap trim
    threshold, to the block's size, so that a threaded worker's heaps keep tens of MiB
    they no longer use. A fixed threshold turns that adjustment off: in the benchmark
    (4 threads per worker, logins) peak RSS went from 189 to 131 MB per worker. Does
    nothing off glibc.

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
