"""A fresh instance of the provider for the benchmark: database, keys, clients, patrons,
and the production server process (gunicorn or granian), with its workers' peak RSS.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import requests

from bench.seed_patrons import bench_hash
from bench.seed_patrons import seed

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: Settings of the benchmark instance that differ from the defaults, and why.
BENCH_SETTINGS = {
    # Every flow comes from 127.0.0.1: the per-address and per-network password-check
    # limits (10 and 30 a minute) would refuse the login benchmark after a few seconds.
    # The checks still run (counters are read and written), only the ceilings are high.
    "IDP_THROTTLE_IP_PER_MINUTE": "1000000000",
    "IDP_THROTTLE_NET_PER_MINUTE": "1000000000",
    "IDP_THROTTLE_IP_FAILURES_PER_DAY": "1000000000",
    "IDP_THROTTLE_NET_FAILURES_PER_DAY": "1000000000",
    # One desk client from one address checks thousands of cards a second; the per-client
    # and per-address ceilings of the card API are raised the same way.
    "IDP_CARD_VERIFY_CLIENT_PER_MINUTE": "1000000000",
    "IDP_CARD_VERIFY_IP_PER_MINUTE": "1000000000",
    "IDP_CARD_VERIFY_FAILURES_PER_DAY": "1000000000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    """A scratch instance directory and database."""

    backend: str
    database_url: str
    redis_url: str | None
    directory: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    admin_url: str | None = None
    database_name: str | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def idp(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - our own command
            [str(BIN / "idp"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"idp {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout


def create_instance(
    backend: str, *, pg_admin_url: str, redis_url: str, patrons: int, keep_db: str | None
) -> Instance:
    """Make the instance directory, database, keys, demo clients and seeded patrons."""
    directory = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    port = free_port()
    database_name = None
    if backend == "postgres":
        import psycopg

        database_name = keep_db or f"idp_bench_{secrets.token_hex(4)}"
        with psycopg.connect(_libpq(pg_admin_url), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database_name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database_name}"')
        base = pg_admin_url.rsplit("/", 1)[0]
        database_url = f"{base}/{database_name}"
        redis = redis_url
    else:
        database_url = f"sqlite:///{directory / 'idp.sqlite3'}"
        redis = None
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        # This checkout's code, whatever else is installed in the environment.
        "PYTHONPATH": str(ROOT),
        "IDP_INSTANCE_DIR": str(directory),
        "IDP_KEYS_DIR": str(directory / "keys"),
        "IDP_DATABASE_URL": database_url,
        "IDP_SECRET_KEY": secrets.token_urlsafe(32),
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        **BENCH_SETTINGS,
    }
    if redis:
        env["IDP_REDIS_URL"] = redis
    instance = Instance(
        backend=backend,
        database_url=database_url,
        redis_url=redis,
        directory=directory,
        port=port,
        env=env,
        admin_url=pg_admin_url if backend == "postgres" else None,
        database_name=None if keep_db else database_name,
    )
    instance.idp("init")
    instance.idp("demo")
    seed(database_url, patrons, password_hash=bench_hash())
    return instance


def destroy_instance(instance: Instance) -> None:
    shutil.rmtree(instance.directory, ignore_errors=True)
    if instance.database_name and instance.admin_url:
        import psycopg

        with psycopg.connect(_libpq(instance.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{instance.database_name}" WITH (FORCE)')
    if instance.redis_url:
        import redis

        # The benchmark's own Redis database: drop the counters and caches it made.
        redis.Redis.from_url(instance.redis_url).flushdb()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Server:
    """A running production server."""

    process: subprocess.Popen[bytes]
    kind: str
    workers: int
    log: Path

    def worker_pids(self) -> list[int]:
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after the ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                children.append(int(entry.name))
        return children or [self.process.pid]

    def peak_rss_mb(self) -> list[float]:
        """Peak resident set size (VmHWM) of every worker, in MB."""
        peaks = []
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return peaks

    def stop(self) -> None:
        """Stop the server, then any worker that outlived it."""
        workers = [pid for pid in self.worker_pids() if pid != self.process.pid]
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 5
        for pid in workers:
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def start_server(instance: Instance, kind: str, workers: int, threads: int) -> Server:
    """Start the production server on the instance and wait until it answers."""
    bind = f"127.0.0.1:{instance.port}"
    if kind == "gunicorn":
        # gthread workers keep connections alive (sync workers close after each answer).
        command = [
            str(BIN / "gunicorn"),
            "--worker-class",
            "gthread",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--backlog",
            "2048",
            "--bind",
            bind,
            "wsgi:app",
        ]
    elif kind == "granian":
        command = [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            "--host",
            "127.0.0.1",
            "--port",
            str(instance.port),
            "--no-ws",
            "--log-level",
            "warning",
            "wsgi:app",
        ]
    else:
        raise ValueError(f"unknown server {kind!r}")
    log = instance.directory / f"{kind}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command
            command, cwd=ROOT, env=instance.env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, kind, workers, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{instance.issuer}/healthz", timeout=1).ok:
                # Every worker imports the app lazily on its first request: warm them all.
                for _ in range(workers * 4):
                    requests.get(f"{instance.issuer}/.well-known/openid-configuration", timeout=5)
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{kind} did not start: {log.read_text()[-2000:]}")
