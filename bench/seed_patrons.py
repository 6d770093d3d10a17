"""Seed many patrons fast, for the benchmark's scale runs.

One Argon2id hash (made with the configured parameters) is shared by every seeded row,
so seeding costs database time only: PostgreSQL gets ``COPY … FROM STDIN``, SQLite
batched ``executemany``. Card numbers are ``PREFIX`` + an 8-digit index, so a run can pick
any seeded card at random without reading them back.

    .venv/bin/python bench/seed_patrons.py --database-url postgresql+psycopg://… --count 1000000

Seeded patrons have a chosen (non-temporary) password, ``BENCH_PASSWORD``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
import time
from collections.abc import Iterator

from argon2 import PasswordHasher
from argon2 import Type

from idp.settings.sections.patrons import DEFAULT_ARGON2_MEMORY_COST
from idp.settings.sections.patrons import DEFAULT_ARGON2_TIME_COST

#: The password of every seeded patron (benchmark data only).
BENCH_PASSWORD = "bench-yomu-2468"
#: Seeded card numbers are this prefix and an 8-digit index.
CARD_PREFIX = "05"
COLUMNS = (
    "card_number",
    "subject",
    "password_hash",
    "is_temporary_password",
    "password_changed_at",
    "password_version",
    "expires_on",
    "status",
    "name",
    "category",
    "is_email_verified",
    "is_email2_verified",
    "notify_due_date",
    "notify_reservation",
    "locale",
    "created_at",
    "updated_at",
)


def card_number(index: int) -> str:
    """The card number of seeded patron ``index`` (0-based)."""
    return f"{CARD_PREFIX}{index:08d}"


def bench_hash(
    time_cost: int = DEFAULT_ARGON2_TIME_COST,
    memory_cost: int = DEFAULT_ARGON2_MEMORY_COST,
    parallelism: int = 1,
) -> str:
    """One Argon2id hash of :data:`BENCH_PASSWORD` with the given parameters."""
    hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )
    return hasher.hash(BENCH_PASSWORD)


def _rows(start: int, count: int, password_hash: str) -> Iterator[tuple[object, ...]]:
    now = dt.datetime.now(dt.UTC)
    expires = dt.date.today() + dt.timedelta(days=3 * 365)
    for index in range(start, start + count):
        yield (
            card_number(index),
            secrets.token_urlsafe(24),
            password_hash,
            False,
            now,
            1,
            expires,
            "active",
            None,
            "adult",
            False,
            False,
            False,
            False,
            "ja",
            now,
            now,
        )


def _existing(url: str) -> int:
    from sqlalchemy import create_engine
    from sqlalchemy import text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.scalar(
                text("SELECT count(*) FROM patrons WHERE card_number LIKE :p"),
                {"p": CARD_PREFIX + "%"},
            )
        return int(value or 0)
    finally:
        engine.dispose()


def seed(
    url: str,
    count: int,
    *,
    password_hash: str,
    batch: int = 50_000,
    progress: bool = False,
) -> float:
    """Make sure seeded patrons 0 … ``count``-1 exist; return the seconds spent.

    Rows already seeded by an earlier run are kept (the run continues after them).
    """
    started = time.perf_counter()
    have = _existing(url)
    if have >= count:
        return 0.0
    if url.startswith("postgresql"):
        _seed_postgres(url, have, count - have, password_hash, batch, progress)
    else:
        _seed_sqlite(url, have, count - have, password_hash, batch, progress)
    return time.perf_counter() - started


def _seed_postgres(
    url: str, start: int, count: int, password_hash: str, batch: int, progress: bool
) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    columns = ", ".join(COLUMNS)
    with psycopg.connect(conninfo) as conn:
        done = 0
        while done < count:
            size = min(batch, count - done)
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY patrons ({columns}) FROM STDIN") as copy,
            ):
                for row in _rows(start + done, size, password_hash):
                    copy.write_row(row)
            conn.commit()
            done += size
            if progress:
                print(f"  {start + done:,} patrons", file=sys.stderr)


def _seed_sqlite(
    url: str, start: int, count: int, password_hash: str, batch: int, progress: bool
) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy import text

    engine = create_engine(url)
    names = ", ".join(COLUMNS)
    marks = ", ".join(f":{c}" for c in COLUMNS)
    statement = text(f"INSERT INTO patrons ({names}) VALUES ({marks})")  # noqa: S608 - fixed names
    try:
        done = 0
        while done < count:
            size = min(batch, count - done)
            rows = [
                dict(zip(COLUMNS, r, strict=True)) for r in _rows(start + done, size, password_hash)
            ]
            with engine.begin() as conn:
                conn.execute(statement, rows)
            done += size
            if progress:
                print(f"  {start + done:,} patrons", file=sys.stderr)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL of a migrated DB.")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--time-cost", type=int, default=DEFAULT_ARGON2_TIME_COST)
    parser.add_argument("--memory-cost", type=int, default=DEFAULT_ARGON2_MEMORY_COST)
    parser.add_argument("--parallelism", type=int, default=1)
    args = parser.parse_args(argv)
    password_hash = bench_hash(args.time_cost, args.memory_cost, args.parallelism)
    seconds = seed(args.database_url, args.count, password_hash=password_hash, progress=True)
    print(f"{args.count:,} patrons present; seeding took {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
