"""``idp serve`` as a real process (granian or gunicorn) for tests of the production server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

#: The console script of the environment the tests run in.
IDP = Path(sys.executable).parent / "idp"


def serve_env(
    port: int, instance: Path, keys_dir: Path, secret: str, **extra: str
) -> dict[str, str]:
    """The environment for ``idp serve`` on 127.0.0.1:``port``: none of the caller's IDP_ keys."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))},
        "IDP_ISSUER": f"http://127.0.0.1:{port}",
        "IDP_SECRET_KEY": secret,
        "IDP_INSTANCE_DIR": str(instance),
        "IDP_KEYS_DIR": str(keys_dir),
        "IDP_BIND": f"127.0.0.1:{port}",
        **extra,
    }


@contextmanager
def idp_serve(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``idp serve`` with ``env`` (output to ``log``); terminated afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(IDP), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # A graceful stop is tested where it is the point (tests/ops/test_serve.py);
                # here a server that is slow to stop on a loaded machine is only ended.
                process.kill()
                process.wait(timeout=30)


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers its health check."""
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_until(predicate: Callable[[], bool], seconds: float = 30, step: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not reached in time")
