"""Installing without make: a wheel built from the tracked files, in a fresh virtualenv.

The wheel is built from a copy of the files git tracks (no compiled ``.mo`` from a
developer's tree), installed with pip into a new virtualenv outside the checkout (pip
resolves the dependencies from the package index), and then ``idp init`` and ``idp run``
from that virtualenv must serve the Japanese login page. It takes about half a minute,
most of it pip installing the dependencies, hence its place among the e2e tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _tracked_copy(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 - git from the PATH, as a developer runs it
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    assert not list(target.rglob("*.mo")), "compiled catalogues must come from the build"
    return target


def _environment() -> dict[str, str]:
    # Nothing of the checkout's configuration or virtualenv leaks into the installed one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    return env


def test_a_wheel_installed_without_make_serves_japanese_pages(
    tmp_path: Path, reserve_port: Callable[[], int]
) -> None:
    source = _tracked_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    env = _environment()
    subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source,
        env=env,
        check=True,
    )
    [wheel] = dist.glob("library_idp-*.whl")

    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(home)
    pip = [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)]
    subprocess.run(  # noqa: S603 - our own command line
        pip, cwd=tmp_path, env=env, check=True
    )
    idp = str(home / "bin" / "idp")

    site = tmp_path / "site"  # the operator's folder: instance/ and keys/ are made here
    site.mkdir()
    init = subprocess.run(  # noqa: S603 - our own command line
        [idp, "init"], cwd=site, env=env, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    assert (site / "instance" / "idp.sqlite3").is_file()

    port = reserve_port()
    server = subprocess.Popen(  # noqa: S603 - our own command line
        [idp, "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=site,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/login")
    finally:
        server.terminate()
        _out, errors = server.communicate(timeout=10)
    assert page.status_code == 200, errors
    assert '<html lang="ja">' in page.text
    assert "貸出カード番号" in page.text and "ログイン" in page.text
    assert "no compiled translations" not in errors


def _wait_for(url: str) -> requests.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
