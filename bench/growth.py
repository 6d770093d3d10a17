"""Cost per request as the tables grow (PostgreSQL): patrons and token rows.

    PYTHONPATH=$PWD .venv/bin/python -m bench.growth --database test_speed \\
        [--patrons 10000,100000,1000000] [--tokens 10000,100000,1000000,3000000]

Makes an instance on the named database (emptied first, kept afterwards), then grows
``patrons`` and ``tokens`` step by step with rows made inside PostgreSQL
(``generate_series``; the token rows are live, spread over the patrons and the
benchmark client), runs ``ANALYZE``, and at each step measures in-process (as
:mod:`bench.cpu`) the CPU and wall time per request of the scenarios whose statements
read or write those tables. At the last step it prints the plan of each hot statement,
to show the index it uses. Results: ``bench/results/growth-postgres.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.cpu import measure
from bench.server import create_instance
from bench.server import destroy_instance

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ["authorize", "code_exchange", "refresh", "userinfo", "introspection"]

#: Synthetic patrons: card numbers far from the seeded ones (bench.seed_patrons).
_PATRONS = """
INSERT INTO patrons (card_number, subject, password_hash, is_temporary_password,
    password_changed_at, password_version, expires_on, status, name, category, email,
    is_email_verified, is_email2_verified, notify_due_date, notify_reservation, locale,
    created_at, updated_at)
SELECT '9' || lpad(i::text, 11, '0'), md5('subject' || i::text), 'x', false, now(), 1,
    DATE '2030-03-31', 'active', 'Patron ' || i::text, 'adult', NULL, false, false, false,
    false, 'ja', now(), now()
FROM generate_series(%(start)s, %(stop)s - 1) AS i
"""
#: Live token pairs of random patrons for the benchmark client.
_TOKENS = """
INSERT INTO tokens (client_id, patron_id, scope, access_token_hash, refresh_token_hash,
    family_id, sid, issued_at, access_expires_at, refresh_expires_at, kept_until)
SELECT 'mylibrary', 1 + (i %% %(patrons)s), 'openid profile offline_access',
    md5('a' || i::text) || md5('A' || i::text), md5('r' || i::text) || md5('R' || i::text),
    'growth-' || (i / 4)::text, NULL, now(), now() + interval '1 hour',
    now() + interval '14 days', now() + interval '14 days'
FROM generate_series(%(start)s, %(stop)s - 1) AS i
"""
_COUNT = "SELECT (SELECT count(*) FROM patrons), (SELECT count(*) FROM tokens)"


def _steps(values: str) -> list[int]:
    return [int(v) for v in values.split(",") if v]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="test_speed")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--patrons", default="10000,100000,1000000")
    parser.add_argument("--tokens", default="10000,100000,1000000,3000000")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    import psycopg

    base = args.pg_url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(f"{base}/{args.database}", autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    instance = create_instance(
        "postgres",
        pg_admin_url=args.pg_url,
        redis_url=args.redis_url,
        patrons=100,
        keep_db=args.database,
    )
    patron_steps = _steps(args.patrons)
    token_steps = _steps(args.tokens)
    # Patrons grow first (tokens at the first size), then tokens (patrons at the last).
    plan = [(p, token_steps[0]) for p in patron_steps] + [
        (patron_steps[-1], t) for t in token_steps[1:]
    ]
    rows: list[dict[str, Any]] = []
    try:
        os.environ.update(instance.env)
        from idp import create_app

        app = create_app()
        conn = psycopg.connect(f"{base}/{args.database}", autocommit=True)
        for patrons, tokens in plan:
            have_patrons, have_tokens = conn.execute(_COUNT).fetchone() or (0, 0)
            started = time.perf_counter()
            if patrons > have_patrons:
                conn.execute(_PATRONS, {"start": have_patrons, "stop": patrons})
            if tokens > have_tokens:
                conn.execute(_TOKENS, {"start": have_tokens, "stop": tokens, "patrons": patrons})
            conn.execute("ANALYZE")
            filled = time.perf_counter() - started
            print(f"patrons {patrons:>9,}  tokens {tokens:>10,}  (filled in {filled:.0f} s)")
            for scenario in SCENARIOS:
                row = measure(app, scenario, args.count)
                row.update(patrons=patrons, tokens=tokens)
                rows.append(row)
                print(
                    f"  {scenario:<15}{row['cpu_ms_per_request']:>8.3f} CPU ms"
                    f"{row['wall_ms_per_request']:>9.3f} wall ms"
                    f"{row['statements_per_request']:>6.1f} statements"
                )
        plans = _plans(conn)
        conn.close()
    finally:
        destroy_instance(instance)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.label}" if args.label else ""
    out = RESULTS / f"growth-postgres{suffix}.json"
    out.write_text(json.dumps({"rows": rows, "plans": plans}, indent=2) + "\n")
    print(f"written: {out}")
    return 0


def _plans(conn: Any) -> dict[str, list[str]]:
    """The plans of the hot statements at the largest size (the index each uses)."""
    statements = {
        "token by access hash (userinfo, introspection)": (
            "SELECT * FROM tokens JOIN clients ON clients.client_id = tokens.client_id "
            "LEFT JOIN patrons ON patrons.id = tokens.patron_id "
            "WHERE tokens.access_token_hash = md5('a5')||md5('A5')"
        ),
        "token by refresh hash (refresh)": (
            "SELECT * FROM tokens WHERE refresh_token_hash = md5('r5')||md5('R5')"
        ),
        "successor of a rotated token (refresh retry grace)": (
            "SELECT * FROM tokens WHERE family_id = 'growth-1' AND parent_id = 5 "
            "AND rotated_at IS NULL"
        ),
        "tokens past their keep (purge)": (
            "SELECT id FROM tokens WHERE kept_until <= now() LIMIT 1000"
        ),
        "family revocation (reuse detection)": (
            "SELECT id FROM tokens WHERE family_id = 'growth-5' AND revoked_at IS NULL"
        ),
        "code by hash (code exchange)": (
            "SELECT * FROM authorization_codes WHERE code_hash = md5('c')||md5('C')"
        ),
        "nonce seen (authorize)": (
            "SELECT EXISTS (SELECT 1 FROM authorization_codes "
            "WHERE client_id = 'mylibrary' AND nonce = 'n')"
        ),
        "session by id hash (authorize)": (
            "SELECT * FROM login_sessions WHERE id_hash = md5('s')||md5('S')"
        ),
        "patron by card number (login)": (
            "SELECT * FROM patrons WHERE card_number = '900000500000'"
        ),
    }
    found: dict[str, list[str]] = {}
    for name, sql in statements.items():
        found[name] = [r[0] for r in conn.execute("EXPLAIN " + sql).fetchall()]
        print(f"{name}:\n    " + "\n    ".join(found[name]))
    return found


if __name__ == "__main__":
    raise SystemExit(main())
