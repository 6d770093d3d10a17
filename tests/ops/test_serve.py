"""``idp serve``: granian or gunicorn with the configured workers, graceful restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import SECRET
from tests.support.network import free_port

pytestmark = pytest.mark.e2e

IDP = Path(sys.executable).parent / "idp"


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


def _wait(predicate: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(params=["granian", "gunicorn"])
def node(
    request: pytest.FixtureRequest, tmp_path: Path, keys_dir: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))},
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_SECRET_KEY": SECRET,
        "IDP_INSTANCE_DIR": str(tmp_path),
        "IDP_KEYS_DIR": str(keys_dir),
        "IDP_BIND": f"127.0.0.1:{port}",
        "IDP_WORKERS": "2",
        "IDP_GRACEFUL_TIMEOUT": "5",
        "IDP_SERVER": request.param,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(IDP), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def test_serve_starts_the_configured_workers_and_restarts_them_gracefully(
    node: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = node
    _wait(lambda: _healthy(url) and len(_workers(process.pid)) == 2)
    before = _workers(process.pid)
    failures: list[str] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                # A request may wait in the socket backlog while new workers start
                # (slow on a busy machine), but none may be refused or dropped.
                status = requests.get(url + "/healthz", timeout=30).status_code
                if status != 200:
                    failures.append(str(status))
            except requests.RequestException as exc:
                failures.append(type(exc).__name__)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        os.kill(process.pid, signal.SIGHUP)  # graceful restart: new workers, same socket
        _wait(lambda: len(_workers(process.pid)) == 2 and not _workers(process.pid) & before)
        _wait(lambda: _healthy(url))
        time.sleep(0.5)
    finally:
        stop.set()
        asker.join(timeout=10)
    assert failures == []
    assert process.poll() is None
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_serve_purges_expired_data_by_itself(tmp_path: Path, keys_dir: Path) -> None:
    import datetime as dt

    from flask_migrate import upgrade
    from sqlalchemy import func
    from sqlalchemy import select

    from idp import create_app
    from idp.extensions import db
    from idp.models.lease import MaintenanceLease
    from idp.models.throttle import ThrottleCounter

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))},
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_SECRET_KEY": SECRET,
        "IDP_INSTANCE_DIR": str(tmp_path),
        "IDP_KEYS_DIR": str(keys_dir),
        "IDP_BIND": f"127.0.0.1:{port}",
        "IDP_WORKERS": "2",
        "IDP_PURGE_INTERVAL": "1",
    }
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

    with (tmp_path / "serve.log").open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(IDP), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait(lambda: left() == 0)
        with app.app_context():
            lease = db.session.get(MaintenanceLease, "purge")
            assert lease is not None and int(lease.holder.rsplit(":", 1)[1]) in _workers(
                process.pid
            )
            db.engine.dispose()
    finally:
        process.terminate()
        process.wait(timeout=20)
