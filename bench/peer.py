"""Side by side with node ``oidc-provider``: ``make bench-peer`` (docs/performance.md).

    make bench-peer                          # SQLite, the production server, 3 rounds x 3 s
    make bench-peer BACKEND=postgres         # PostgreSQL + Redis; the peer on Redis too
    .venv/bin/python -m bench.peer --help

Runs the ready harness of ``../shared/peer-bench`` (its README): it starts the peer
(oidc-provider, configured like a small production deployment) and alternates it with
this provider round by round, on the same machine. This script prepares our side:

1. a fresh instance (``idp init``, the demo clients, seeded patrons) with a ``bench``
   client as the harness expects (confidential, ``client_secret_basic``, code + refresh,
   first party so there is no consent screen, redirect URI ``http://127.0.0.1:9/cb``);
2. the production server started the way the README documents (``idp serve``), with
   only the per-address sign-in ceilings raised (every login comes from 127.0.0.1), and
   the harness's keep-alive connections spread over the workers as the README says to
   for a proxy that keeps connections open (``IDP_WORKER_CONNECTIONS``);
3. the peer's Argon2id cost set to ours (``IDP_ARGON2_*``), so ``login_flow`` compares
   servers, not hash parameters.

The harness's JSON goes to ``bench/results/peer-<backend>-<server>.json`` and the ratios
(ours / peer, > 1: ours faster) to ``bench/results/peer-<backend>-<server>-ratios.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.seed_patrons import BENCH_PASSWORD
from bench.seed_patrons import card_number
from bench.server import BIN
from bench.server import ROOT
from bench.server import Instance
from bench.server import Server
from bench.server import create_instance
from bench.server import destroy_instance
from idp.settings import load_settings

RESULTS = Path(__file__).resolve().parent / "results"
PEER_BENCH = ROOT / ".." / "shared" / "peer-bench"
CLIENT_ID = "bench"
#: The bench client's secret (benchmark instance only, made and dropped by this run).
CLIENT_SECRET = "bench-peer-secret-0123456789abcdefghij"
REDIRECT_URI = "http://127.0.0.1:9/cb"
#: Cards the login flow takes in turn (seeded patrons, chosen passwords).
LOGIN_CARDS = 16

BENCH_CLIENT = f"""\
client_id = "{CLIENT_ID}"
name = "Benchmark"
client_secret_env = "BENCH_CLIENT_SECRET"
redirect_uris = ["{REDIRECT_URI}"]
scopes = ["openid", "profile", "offline_access"]
grant_types = ["authorization_code", "refresh_token"]
first_party = true
temporary_password = "deny"
"""


def _argon2_spec(env: dict[str, str]) -> str:
    """Our Argon2id cost (the instance's configuration) in the harness's notation."""

    accounts = load_settings(env).accounts
    return (
        f"m={accounts.argon2_memory_cost},t={accounts.argon2_time_cost},"
        f"p={accounts.argon2_parallelism}"
    )


def register_bench_client(instance: Instance) -> None:
    folder = instance.directory / "bench-clients"
    folder.mkdir()
    (folder / f"{CLIENT_ID}.toml").write_text(BENCH_CLIENT, encoding="utf-8")
    instance.env["BENCH_CLIENT_SECRET"] = CLIENT_SECRET
    instance.idp("clients", "sync", str(folder))


def start_serve(
    instance: Instance, server: str, workers: int, threads: int, connections: int = 0
) -> Server:
    """``idp serve`` as the README's "Production" section runs it."""
    env = {
        **instance.env,
        "IDP_BIND": f"127.0.0.1:{instance.port}",
        "IDP_WORKERS": str(workers),
        "IDP_THREADS": str(threads),
        "IDP_WORKER_CONNECTIONS": str(connections),
    }
    if server != "default":
        env["IDP_SERVER"] = server
    log = instance.directory / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(BIN / "idp"), "serve"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    handle = Server(process, server, workers, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"idp serve exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{instance.issuer}/healthz", timeout=1).ok:
                return handle
        except requests.RequestException:
            pass
        time.sleep(0.2)
    handle.stop()
    raise RuntimeError(f"idp serve did not start: {log.read_text()[-2000:]}")


def harness_copy(source: Path) -> Path:
    """A writable copy of the harness (the shared folder may be read-only); its
    ``node_modules`` are installed there by its own ``run.sh`` on first use and kept
    between runs under the system's temporary folder."""
    target = Path(tempfile.gettempdir()) / "idp-peer-bench" / "peer-bench"
    if not target.exists() or _newer(source, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            source,
            target,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("node_modules", "results"),
        )
    return target


def _newer(source: Path, target: Path) -> bool:
    stamp = target / "bench.mjs"
    if not stamp.exists():
        return True
    mtime = stamp.stat().st_mtime
    return any(p.stat().st_mtime > mtime for p in source.rglob("*.mjs"))


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Ratios ours/peer and each side's CPU ms per operation, per scenario."""
    scenarios: dict[str, Any] = {}
    for name, sides in report.get("results", {}).items():
        peer = (sides.get("peer") or {}).get("merged") or {}
        ours = next(
            ((v or {}).get("merged") for k, v in sides.items() if k != "peer"),
            None,
        )
        if not ours or not peer:
            continue
        ratio = report.get("ratios", {}).get(name, {})
        scenarios[name] = {
            "ratio_ops": ratio.get("rps"),
            "ratio_ops_per_round": ratio.get("rps_per_round"),
            "ours_ops": ours.get("rps"),
            "peer_ops": peer.get("rps"),
            "ours_cpu_ms_per_op": ours.get("server_cpu_ms_per_op"),
            "peer_cpu_ms_per_op": peer.get("server_cpu_ms_per_op"),
            "cpu_ratio_peer_over_ours": (
                round(peer["server_cpu_ms_per_op"] / ours["server_cpu_ms_per_op"], 3)
                if ours.get("server_cpu_ms_per_op") and peer.get("server_cpu_ms_per_op")
                else None
            ),
            "errors": ours.get("errors"),
        }
    return {"scenarios": scenarios, "peak_rss_ratio": report.get("ratios", {}).get("peak_rss")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--server",
        choices=["default", "gunicorn", "granian"],
        default="default",
        help="IDP_SERVER for idp serve (default: what idp serve chooses).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=(
            "IDP_WORKERS (default: SQLite one per core — its writers take turns at one"
            " lock; PostgreSQL idp serve's own 2 x cores + 1 — a worker waits on round trips)."
        ),
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="IDP_THREADS (default 1, idp serve's own: a worker's threads share one GIL).",
    )
    parser.add_argument(
        "--worker-connections",
        type=int,
        default=None,
        help=(
            "IDP_WORKER_CONNECTIONS (default: the README's rule for a proxy that keeps N"
            " connections open, ceil(N / workers) + 2, N being the harness's concurrency:"
            " its connections are spread over the workers; 0: granian's own limit)."
        ),
    )
    parser.add_argument("--patrons", type=int, default=1000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--peer-bench", type=Path, default=PEER_BENCH)
    parser.add_argument("--label", default="", help="Suffix of the result files.")
    parser.add_argument(
        "harness_args",
        nargs=argparse.REMAINDER,
        help="After --: options for the harness (--duration, --rounds, --scenarios, ...).",
    )
    return parser.parse_args(argv)


def _concurrency(harness_args: list[str]) -> int:
    """The most connections the harness opens at once: its ``--concurrency`` or
    ``--login-concurrency`` (16 each unless given)."""
    found = [16]
    for option in ("--concurrency", "--login-concurrency"):
        for index, arg in enumerate(harness_args):
            if arg == option and index + 1 < len(harness_args):
                found.append(int(harness_args[index + 1]))
            elif arg.startswith(option + "="):
                found.append(int(arg.split("=", 1)[1]))
    return max(found)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    extra = [a for a in args.harness_args if a != "--"]
    harness = harness_copy(args.peer_bench.resolve())
    print(f"Preparing a fresh {args.backend} instance …", flush=True)
    instance = create_instance(
        args.backend,
        pg_admin_url=args.pg_url,
        redis_url=args.redis_url,
        patrons=max(args.patrons, LOGIN_CARDS),
        keep_db=None,
    )
    name = f"peer-{args.backend}-{args.server}{'-' + args.label if args.label else ''}"
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    server = None
    code = 1
    worker_peaks: list[float] = []
    try:
        register_bench_client(instance)
        if args.workers is None:
            cores = os.cpu_count() or 1
            args.workers = cores if args.backend == "sqlite" else 2 * cores + 1
        if args.worker_connections is None:
            args.worker_connections = -(-_concurrency(extra) // args.workers) + 2
        server = start_serve(
            instance, args.server, args.workers, args.threads, args.worker_connections
        )
        command = [
            str(harness / "run.sh"),
            "--target",
            instance.issuer,
            "--target-pid",
            str(server.process.pid),
            "--client-id",
            CLIENT_ID,
            "--redirect-uri",
            REDIRECT_URI,
            "--username",
            ",".join(card_number(i) for i in range(LOGIN_CARDS)),
            "--peer-argon2",
            _argon2_spec(instance.env),
            "--peer-adapter",
            "redis" if args.backend == "postgres" else "memory",
            "--out",
            str(out),
            *extra,
        ]
        env = {
            **os.environ,
            "BENCH_CLIENT_SECRET": CLIENT_SECRET,
            "BENCH_PASSWORD": BENCH_PASSWORD,
        }
        print("Running", " ".join(command[:1] + command[1:3]), "…", flush=True)
        code = subprocess.run(command, env=env, check=False).returncode  # noqa: S603
        # Each process's own peak (the harness sums the tree, counting shared pages once
        # per process); the target is per worker.
        worker_peaks = [round(v, 1) for v in server.peak_rss_mb()]
    finally:
        if server is not None:
            server.stop()
        destroy_instance(instance)
    if out.exists():
        report = json.loads(out.read_text())
        summary = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "backend": args.backend,
            "server": args.server,
            "workers": args.workers,
            "threads": args.threads,
            "worker_connections": args.worker_connections,
            "harness_args": extra,
            "worker_peak_rss_mb": worker_peaks,
            **summarise(report),
        }
        ratios = RESULTS / f"{name}-ratios.json"
        ratios.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nRatios ours/peer written to {ratios}")
        print(f"  peak RSS per server process (MB): {worker_peaks}")
        for scenario, row in summary["scenarios"].items():
            ours, peer = row["ours_cpu_ms_per_op"], row["peer_cpu_ms_per_op"]
            print(
                f"  {scenario:<14} ops ratio {row['ratio_ops']!s:>6}   "
                f"CPU ms/op ours {ours!s:>8}  peer {peer!s:>8}"
            )
    return code


if __name__ == "__main__":
    sys.exit(main())
