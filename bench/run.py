"""Benchmark of the provider under its production server (SPEC §8).

    make bench                       # SQLite, no Redis
    make bench BACKEND=postgres      # PostgreSQL + Redis (scratch database, dropped after)
    .venv/bin/python -m bench.run --help

Creates a fresh instance (``idp init``, demo clients, seeded patrons), starts gunicorn
with one worker per core, and drives each scenario with wrk on keep-alive connections
for a fixed time. Prints a table and writes ``bench/results/<backend>.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import platform
import re
import secrets
import signal
import statistics
import sys
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import requests

from bench.argon2_bound import argon2_bound
from bench.load import LoadResult
from bench.load import run_wrk
from bench.seed_patrons import BENCH_PASSWORD
from bench.seed_patrons import CARD_PREFIX
from bench.seed_patrons import card_number
from bench.server import Instance
from bench.server import Server
from bench.server import create_instance
from bench.server import destroy_instance
from bench.server import start_server
from idp.cli.demo import DEMO_SECRETS

RESULTS = Path(__file__).resolve().parent / "results"
CLIENT_ID = "mylibrary"
CLIENT_SECRET = DEMO_SECRETS["MYLIBRARY_CLIENT_SECRET"]


def _redirect_uri() -> str:
    """The first redirect URI registered for the demo client (clients/mylibrary.toml)."""
    path = Path(__file__).resolve().parent.parent / "clients" / f"{CLIENT_ID}.toml"
    return str(tomllib.loads(path.read_text(encoding="utf-8"))["redirect_uris"][0])


REDIRECT_URI = _redirect_uri()
VERIFIER = "bench-verifier-" + "x" * 40
#: req/s targets on the 2-core development machine (login: % of the Argon2 bound).
TARGETS: dict[str, float] = {
    "discovery": 10_000,
    "jwks": 15_000,
    "code_exchange": 1_900,
    "refresh": 2_000,
    "userinfo": 6_000,
    "login_flow": 80.0,
}
SCENARIOS = [
    "discovery",
    "jwks",
    "code_exchange",
    "refresh",
    "userinfo",
    "introspection",
    "card_verify",
    "login_flow",
]
RSS_TARGET_MB = 100.0


def _basic() -> str:
    return base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def _challenge() -> str:
    digest = hashlib.sha256(VERIFIER.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_path() -> str:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile offline_access",
        "state": "bench-state",
        "code_challenge": _challenge(),
        "code_challenge_method": "S256",
    }
    # The nonce is added per request (a nonce is accepted once): see with_nonce().
    return "/authorize?" + urlencode(params)


def with_nonce(path: str) -> str:
    return f"{path}&nonce={secrets.token_urlsafe(12)}"


class Browser:
    """One logged-in browser session, through requests (setup only, not measured)."""

    def __init__(self, issuer: str, card: str, password: str) -> None:
        self.issuer = issuer
        self.http = requests.Session()
        first = self._get(with_nonce(authorize_path()))
        page = self._get(first.headers["Location"])
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        if match is None:
            raise RuntimeError("no CSRF token on the login page")
        rid = parse_qs(urlsplit(first.headers["Location"]).query).get("rid", [""])[0]
        posted = self.http.post(
            self._url("/login"),
            data={
                "card_number": card,
                "password": password,
                "csrf_token": match.group(1),
                "rid": rid,
            },
            allow_redirects=False,
        )
        if posted.status_code != 302:
            raise RuntimeError(f"login failed: {posted.status_code} {posted.text[:300]}")
        self._get(posted.headers["Location"])

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.issuer + path

    def _get(self, path: str) -> requests.Response:
        return self.http.get(self._url(path), allow_redirects=False)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def code(self) -> str:
        response = self._get(with_nonce(authorize_path()))
        location = response.headers.get("Location", "")
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise RuntimeError(f"no code: {response.status_code} {location}")
        return query["code"][0]

    def tokens(self) -> dict[str, Any]:
        response = requests.post(
            self._url("/token"),
            data={
                "grant_type": "authorization_code",
                "code": self.code(),
                "redirect_uri": REDIRECT_URI,
                "code_verifier": VERIFIER,
            },
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        response.raise_for_status()
        return dict(response.json())


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _summary(result: LoadResult, *, exact: bool = False, **extra: Any) -> dict[str, Any]:
    """The scenario's figures.

    :param exact: the run had one connection per wrk thread, which kept the latency of
        every successful request and each thread's active time: percentiles and the rate
        count successes only, over the time each thread still had inputs (single-use
        codes that ran out are then not rated as fast failures).
    """
    raw = result.raw
    latencies = [float(v) for v in raw.pop("lat_us", [])]
    raw.pop("flow_us", None)
    threads = raw.pop("threads", [])
    summary = {
        "rate": round(result.rate, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "ok": raw["ok"],
        "errors": result.errors,
        "bad_statuses": raw["bad_statuses"].strip(),
        "seconds": round(result.seconds, 2),
        **extra,
    }
    if exact and latencies:
        summary.update(
            rate=round(_active_rate(threads, 0, result.seconds), 1),
            p50_ms=_percentile(latencies, 50) / 1000,
            p95_ms=_percentile(latencies, 95) / 1000,
            p99_ms=_percentile(latencies, 99) / 1000,
        )
    return summary


def _active_rate(threads: list[list[int]], column: int, seconds: float) -> float:
    """Sum over threads of successes / the thread's active time (at most the run)."""
    rate = 0.0
    for row in threads:
        count, active_us = row[column], row[2]
        active = min(seconds, active_us / 1e6) if active_us > 0 else seconds
        if count:
            rate += count / active
    return rate


class Bench:
    """Runs the scenarios against one started server."""

    def __init__(self, instance: Instance, server: Server, args: argparse.Namespace) -> None:
        self.instance = instance
        self.server = server
        self.args = args
        self.url = instance.issuer
        self.work = instance.directory / "bench"
        self.work.mkdir(exist_ok=True)
        self.browser = Browser(self.url, card_number(0), BENCH_PASSWORD)

    def wrk(self, script: str, args: list[str], **kwargs: Any) -> LoadResult:
        options: dict[str, Any] = {
            "duration": self.args.duration,
            "connections": self.args.concurrency,
            "threads": self.args.wrk_threads,
        }
        options.update(kwargs)
        return run_wrk(self.url, script, args, **options)

    def _lines_file(self, name: str, lines: list[str]) -> str:
        path = self.work / name
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def discovery(self) -> dict[str, Any]:
        return _summary(self.wrk("get", ["/.well-known/openid-configuration"]))

    def jwks(self) -> dict[str, Any]:
        return _summary(self.wrk("get", ["/jwks.json"]))

    def code_exchange(self) -> dict[str, Any]:
        # Harvest codes through the one signed-in session (not measured), then redeem each
        # once. Harvesting runs twice as long as the exchange (/authorize is cheaper), and
        # both fit in the codes' lifetime (IDP_CODE_TTL, at most 60 s): the exchange runs
        # at most 20 s.
        exchange = min(self.args.duration, 20.0)
        prefix = str(self.work / "codes")
        harvest = self.wrk(
            "harvest",
            [authorize_path(), self.browser.cookie, prefix, secrets.token_hex(4)],
            duration=max(2.0, min(2 * exchange, 35.0)),
        )
        codes: list[str] = []
        for part in self.work.glob("codes.*"):
            codes.extend(line for line in part.read_text().splitlines() if line)
            part.unlink()
        path = self._lines_file("codes.txt", codes)
        # One connection per wrk thread: every answer is paired with its request (see
        # _summary), so codes running out cannot pass for fast answers.
        threads = self.args.concurrency
        result = self.wrk(
            "code",
            [path, str(threads), _basic(), REDIRECT_URI, VERIFIER],
            threads=threads,
            duration=exchange,
        )
        exhausted = result.raw["requests"] > len(codes)
        return _summary(
            result,
            exact=True,
            harvested=len(codes),
            harvest_rate=round(harvest.rate, 1),
            codes_ran_out=exhausted,
        )

    def _token_sets(self, count: int) -> list[dict[str, Any]]:
        return [self.browser.tokens() for _ in range(count)]

    def refresh(self) -> dict[str, Any]:
        # Two refresh tokens per connection; every answer's new token is used next.
        sets = self._token_sets(self.args.concurrency * 2)
        path = self._lines_file("refresh.txt", [s["refresh_token"] for s in sets])
        threads = self.args.wrk_threads
        return _summary(self.wrk("refresh", [path, str(threads), _basic()], threads=threads))

    def userinfo(self) -> dict[str, Any]:
        sets = self._token_sets(8)
        path = self._lines_file("access.txt", [s["access_token"] for s in sets])
        return _summary(self.wrk("bearer", [path, "1", "GET", "/userinfo"]))

    def introspection(self) -> dict[str, Any]:
        sets = self._token_sets(8)
        path = self._lines_file("access.txt", [s["access_token"] for s in sets])
        return _summary(
            self.wrk(
                "bearer",
                [
                    path,
                    "1",
                    "POST",
                    "/introspect",
                    _basic(),
                    "token_type_hint=access_token&token=",
                    "application/x-www-form-urlencoded",
                ],
            )
        )

    def card_verify(self) -> dict[str, Any] | None:
        probe = requests.post(f"{self.url}/api/card/verify", json={"code": "0"}, timeout=10)
        if probe.status_code == 404:
            print("  card_verify: skipped, this build has no POST /api/card/verify")
            return None
        from bench.card import CardVerify

        return CardVerify(self).run()

    def login_flow(self) -> dict[str, Any]:
        connections = self.args.concurrency
        result = self.wrk(
            "login",
            [
                authorize_path(),
                _basic(),
                secrets.token_hex(4),
                REDIRECT_URI,
                VERIFIER,
                str(self.args.patrons),
                CARD_PREFIX,
                BENCH_PASSWORD,
            ],
            threads=connections,
            connections=connections,
            duration=max(self.args.duration, self.args.login_duration),
        )
        flows_us = [float(v) for v in result.raw.get("flow_us", [])]
        flows = len(flows_us)
        threads = list(result.raw.get("threads", []))
        summary = _summary(result)
        summary.update(
            rate=round(_active_rate(threads, 1, result.seconds), 1),
            unit="flows/s",
            flows=flows,
            requests_per_flow=5,
            request_rate=round(result.rate, 1),
            request_p50_ms=summary["p50_ms"],
            request_p99_ms=summary["p99_ms"],
            p50_ms=_percentile(flows_us, 50) / 1000,
            p95_ms=_percentile(flows_us, 95) / 1000,
            p99_ms=_percentile(flows_us, 99) / 1000,
            mean_ms=round(statistics.fmean(flows_us) / 1000, 2) if flows_us else 0.0,
        )
        return summary


def print_table(report: dict[str, Any]) -> None:
    rows = report["scenarios"]
    print()
    print(
        f"backend={report['backend']} server={report['server']} workers={report['workers']}"
        f" threads={report['threads']} concurrency={report['concurrency']}"
        f" duration={report['duration']}s patrons={report['patrons']:,} cores={report['cores']}"
    )
    header = (
        f"{'scenario':<15}{'rate':>12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}  target"
    )
    print(header)
    print("-" * (len(header) + 12))
    bound = report["argon2_bound"]
    for name in SCENARIOS:
        row = rows.get(name)
        if row is None:
            continue
        unit = "/s"
        target = TARGETS.get(name)
        verdict = ""
        if name == "login_flow":
            share = row["argon2_share"]
            verdict = f"{share:.0f}% of bound (target ≥80%: {'met' if share >= 80 else 'MISSED'})"
            unit = " flows/s"
        elif target is not None:
            verdict = f"≥{target:,.0f}: {'met' if row['rate'] >= target else 'MISSED'}"
        print(
            f"{name:<15}{row['rate']:>10,.0f}{unit:<2}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['errors']:>8}  {verdict}"
        )
    print(f"argon2 bound   {bound:>10,.1f}/s verifications on {report['cores']} cores")
    rss = report["peak_rss_mb"]
    if rss:
        worst = max(rss)
        verdict = "met" if worst <= RSS_TARGET_MB else "MISSED"
        print(
            f"peak RSS       {', '.join(f'{v:.0f}' for v in rss)} MB per worker"
            f" (target ≤{RSS_TARGET_MB:.0f}: {verdict})"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        description="Benchmark the provider (see docs/performance.md)."
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per scenario.")
    parser.add_argument(
        "--login-duration",
        type=float,
        default=0.0,
        help="Seconds for the login flow (default: --duration).",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="Keep-alive connections.")
    parser.add_argument("--workers", type=int, default=cores, help="Server worker processes.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per worker.")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (light scenarios).")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--patrons", type=int, default=10_000, help="Seeded patrons.")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="Comma-separated subset.")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="PostgreSQL server (a scratch database is created and dropped on it).",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="Redis database for the run (flushed at the end).",
    )
    parser.add_argument(
        "--keep-db",
        default=None,
        help="PostgreSQL database to create or reuse and keep (scale runs).",
    )
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON file (default bench/results/<backend>.json).",
    )
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # Stopped by Ctrl-C or a TERM (also when started in the background, where SIGINT may
    # be ignored): the server is stopped and the scratch database dropped on the way out.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    cores = os.cpu_count() or 1
    print(f"Preparing a fresh {args.backend} instance with {args.patrons:,} patrons …", flush=True)
    started = time.perf_counter()
    instance = create_instance(
        args.backend,
        pg_admin_url=args.pg_url,
        redis_url=args.redis_url,
        patrons=args.patrons,
        keep_db=args.keep_db,
    )
    print(f"  ready in {time.perf_counter() - started:.1f} s; starting {args.server}", flush=True)
    report: dict[str, Any] = {
        "backend": args.backend,
        "server": args.server,
        "workers": args.workers,
        "threads": args.threads,
        "concurrency": args.concurrency,
        "duration": args.duration,
        "patrons": args.patrons,
        "cores": cores,
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenarios": {},
    }
    server = None
    try:
        server = start_server(instance, args.server, args.workers, args.threads)
        bench = Bench(instance, server, args)
        for name in SCENARIOS:
            if name not in chosen:
                continue
            print(f"  {name} …", flush=True)
            row = getattr(bench, name)()
            if row is not None:
                report["scenarios"][name] = row
        report["peak_rss_mb"] = [round(v, 1) for v in server.peak_rss_mb()]
    finally:
        if server is not None:
            server.stop()
        destroy_instance(instance)
    print(f"  argon2 bound ({cores} processes, {args.argon2_seconds:.0f} s) …", flush=True)
    report["argon2_bound"] = round(argon2_bound(args.argon2_seconds, processes=cores), 1)
    if "login_flow" in report["scenarios"]:
        row = report["scenarios"]["login_flow"]
        row["argon2_share"] = round(100 * row["rate"] / report["argon2_bound"], 1)
    print_table(report)
    output = args.output or RESULTS / f"{args.backend}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nWritten to {output}")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
