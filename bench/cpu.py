"""In-process CPU per request and SQL statements per request, per scenario.

    PYTHONPATH=$PWD .venv/bin/python -m bench.cpu [--backend postgres] [--count 500]

Runs each scenario's requests through the WSGI application (Flask's test client, which
costs 0.1-0.2 ms per request itself) on a fresh instance made like the
benchmark's, one after the other in this process, and prints the process CPU time
(user + system) per request (the mean, and the "quiet" figure: the 25th percentile of
batches of 100 requests, for a machine shared with other jobs), the wall time per
request and the statements sent to the database per request. No server, no load
generator: the figure is the application's own cost, far less sensitive to what else
the machine is doing than a rate. The "app only" column is the quiet figure once more
with the application called straight, on an environ made by hand
(:class:`bench.profile.WsgiCaller`), without the test client's own cost: set beside
``bench/peer.py``'s server CPU per request, it splits that into the application's part
and what the server and the machine add around it. The table is also written to
``bench/results/cpu-<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.profile import build_work
from bench.server import create_instance
from bench.server import destroy_instance

SCENARIOS = [
    "discovery",
    "jwks",
    "authorize",
    "code_exchange",
    "refresh",
    "userinfo",
    "introspection",
]
RESULTS = Path(__file__).resolve().parent / "results"
#: Requests per batch: the "quiet" figure is the 25th percentile of the batches' CPU per
#: request, which a machine shared with other jobs disturbs far less than the mean
#: (other processes' cache and frequency effects land on some batches, not all).
BATCH = 100


def measure(app: Any, scenario: str, count: int, *, direct: bool = False) -> dict[str, Any]:
    """CPU ms, wall ms and statements per request of ``scenario`` (``direct``: the
    application called without the test client, :class:`bench.profile.WsgiCaller`)."""
    from sqlalchemy import event

    from idp.extensions import db

    work = build_work(app, scenario, count + 20, direct=direct)
    for _ in range(20):  # warm: first compilations, the client registry, caches
        work()
    statements = [0]

    def count_statement(*_: Any) -> None:
        statements[0] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_statement)
    batches: list[float] = []
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, count, BATCH):
            began = time.process_time()
            for _ in range(min(BATCH, count - start)):
                work()
            if count - start >= BATCH:
                batches.append(time.process_time() - began)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    batches.sort()
    quiet = batches[len(batches) // 4] if batches else cpu * BATCH / count
    return {
        "scenario": scenario,
        "requests": count,
        "cpu_ms_per_request": round(cpu * 1000 / count, 3),
        "cpu_ms_per_request_quiet": round(quiet * 1000 / BATCH, 3),
        "wall_ms_per_request": round(wall * 1000 / count, 3),
        "statements_per_request": round(statements[0] / count, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--label", default="", help="Suffix of the result file.")
    args = parser.parse_args(argv)
    instance = create_instance(
        args.backend,
        pg_admin_url=args.pg_url,
        redis_url=args.redis_url,
        patrons=100,
        keep_db=None,
    )
    rows = []
    try:
        os.environ.update(instance.env)
        from idp import create_app

        app = create_app()
        print(
            f"{'scenario':<15}{'CPU ms/req':>12}{'quiet':>8}{'app only':>10}"
            f"{'wall ms/req':>13}{'statements':>12}"
        )
        for scenario in args.scenarios.split(","):
            row = measure(app, scenario, args.count)
            if scenario != "login":  # a login follows a browser: the test client only
                own = measure(app, scenario, args.count, direct=True)
                row["app_cpu_ms_per_request_quiet"] = own["cpu_ms_per_request_quiet"]
            rows.append(row)
            app_only = row.get("app_cpu_ms_per_request_quiet")
            print(
                f"{scenario:<15}{row['cpu_ms_per_request']:>12.3f}"
                f"{row['cpu_ms_per_request_quiet']:>8.3f}"
                + (f"{app_only:>10.3f}" if app_only is not None else f"{'-':>10}")
                + f"{row['wall_ms_per_request']:>13.3f}{row['statements_per_request']:>12.2f}"
            )
    finally:
        destroy_instance(instance)
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.label}" if args.label else ""
    out = RESULTS / f"cpu-{args.backend}{suffix}.json"
    out.write_text(
        json.dumps({"backend": args.backend, "fast_path": _fast_path(), "rows": rows}, indent=2)
        + "\n"
    )
    print(f"written: {out}")
    return 0


def _fast_path() -> bool:
    return os.environ.get("IDP_FAST_PATH", "1").lower() not in ("0", "false", "no", "off")


if __name__ == "__main__":
    raise SystemExit(main())
