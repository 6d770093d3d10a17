"""``idp serve``: granian or gunicorn with the configured workers, graceful restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import SECRET
from tests.support.processes import healthy
from tests.support.processes import idp_serve
from tests.support.processes import serve_env
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e


def _workers(master: int) -> set[int]:
    """The pids of the master's child processes (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                found.add(int(entry.name))
    return found


@pytest.fixture(params=["granian", "gunicorn"])
def node(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    keys_dir: Path,
    reserve_port: Callable[[], int],
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = reserve_port()
    env = serve_env(
        port,
        tmp_path,
        keys_dir,
        SECRET,
        IDP_WORKERS="2",
        IDP_GRACEFUL_TIMEOUT="5",
        IDP_SERVER=request.param,
    )
    with idp_serve(env, tmp_path / "serve.log") as process:
        yield f"http://127.0.0.1:{port}", process


def test_serve_starts_the_configured_workers_and_restarts_them_gracefully(
    node: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = node
    wait_until(lambda: healthy(url) and len(_workers(process.pid)) == 2)
    before = _workers(process.pid)
    failures: list[str] = []
    stop = threading.Event()

    def ask() -> int:
        # A request may wait in the socket backlog while new workers start (slow on a
        # busy machine), but none may be refused or answered with an error. A
        # connection an old worker accepted just before it stopped may be closed
        # unanswered (granian); an HTTP client retries an idempotent request once then
        # (RFC 9110 §9.2.2), and so does this one: a second failure is a failure.
        try:
            return requests.get(url + "/healthz", timeout=30).status_code
        except requests.ConnectionError:
            return requests.get(url + "/healthz", timeout=30).status_code

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                status = ask()
                if status != 200:
                    failures.append(str(status))
            except requests.RequestException as exc:
                failures.append(type(exc).__name__)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        os.kill(process.pid, signal.SIGHUP)  # graceful restart: new workers, same socket
        wait_until(lambda: len(_workers(process.pid)) == 2 and not _workers(process.pid) & before)
        wait_until(lambda: healthy(url))
        time.sleep(0.5)
    finally:
        stop.set()
        asker.join(timeout=10)
    assert failures == []
    assert process.poll() is None
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_serve_gives_its_workers_huge_pages_for_argon2_blocks(
    node: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = node
    wait_until(lambda: healthy(url) and len(_workers(process.pid)) == 2)
    for pid in _workers(process.pid):
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ


def test_serve_purges_expired_data_by_itself(
    tmp_path: Path, keys_dir: Path, reserve_port: Callable[[], int]
) -> None:
    import datetime as dt

    from flask_migrate import upgrade
    from sqlalchemy import func
    from sqlalchemy import select

    from idp import create_app
    from idp.extensions import db
    from idp.models.lease import MaintenanceLease
    from idp.models.throttle import ThrottleCounter

    port = reserve_port()
    env = serve_env(port, tmp_path, keys_dir, SECRET, IDP_WORKERS="2", IDP_PURGE_INTERVAL="1")
    app = create_app({k: v for k, v in env.items() if k.startswith("IDP_")} | {"TESTING": True})
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with app.app_context():
        upgrade()
        db.session.add_all(
            ThrottleCounter(key=f"k{n}", count=1, last_at=past, expires_at=past) for n in range(5)
        )
        db.session.commit()

    def left() -> int:
        with app.app_context():
            count = db.session.scalar(select(func.count()).select_from(ThrottleCounter))
            db.session.remove()
            return int(count or 0)

    with idp_serve(env, tmp_path / "serve.log") as process:
        wait_until(lambda: left() == 0)
        with app.app_context():
            lease = db.session.get(MaintenanceLease, "purge")
            assert lease is not None and int(lease.holder.rsplit(":", 1)[1]) in _workers(
                process.pid
            )
            db.engine.dispose()


def _owner(port: int, client_port: int, workers: set[int]) -> int | None:
    """The worker holding the server side of the loopback connection from
    ``client_port`` to ``port`` (from /proc/net/tcp and the workers' descriptors)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == port and int(remote[1], 16) == client_port:
            inode = fields[9]
    if inode is None:
        return None
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def test_serve_spreads_connections_over_workers_when_each_may_hold_a_few(
    tmp_path: Path, keys_dir: Path, reserve_port: Callable[[], int]
) -> None:
    """``IDP_WORKER_CONNECTIONS``: a worker serves at most that many connections at
    once, so a burst of keep-alive connections (a proxy's pool, the benchmark's
    clients) is spread over the workers instead of all going to whichever accepted
    first; each connection is answered."""
    import http.client

    port = reserve_port()
    env = serve_env(port, tmp_path, keys_dir, SECRET, IDP_WORKERS="2", IDP_WORKER_CONNECTIONS="2")
    with idp_serve(env, tmp_path / "serve.log") as process:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(url) and len(_workers(process.pid)) == 2)
        wait_until(lambda: not _busy_connections(port))  # the health checks' are closed
        workers = _workers(process.pid)
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(4)]
        try:
            for connection in connections:
                connection.request("GET", "/healthz")
                answer = connection.getresponse()
                assert answer.status == 200
                answer.read()
            owners = [_owner(port, c.sock.getsockname()[1], workers) for c in connections]
        finally:
            for connection in connections:
                connection.close()
    assert None not in owners
    assert sorted(owners.count(pid) for pid in workers) == [2, 2]


def _busy_connections(port: int) -> bool:
    """Whether any established connection to ``port`` is still open."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            return True
    return False
