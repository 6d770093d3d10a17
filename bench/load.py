"""The load generator: wrk (C, epoll, keep-alive connections) driven by Lua scenarios.

A Python client (asyncio with httpx or aiohttp) spends more CPU per request than the
provider's fastest endpoints do, and shares the same two cores, so it would measure
itself. wrk costs a few microseconds per request and scripts the stateful scenarios
(single-use codes, rotating refresh tokens, the login flow with cookies and CSRF) in
LuaJIT. ``apt-get install wrk`` (Debian) provides it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua"


@dataclass
class LoadResult:
    """One wrk run, as read from the scenario's JSON summary."""

    raw: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.raw["duration_us"]) / 1e6

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return float(self.raw["ok"]) / self.seconds

    @property
    def errors(self) -> int:
        r = self.raw
        return int(
            r["bad"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
        )


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it)")
    return path


def run_wrk(
    url: str,
    script: str,
    args: list[str],
    *,
    duration: float,
    connections: int,
    threads: int,
    timeout: float = 10.0,
) -> LoadResult:
    """Run one scenario script (``bench/lua/<script>.lua``) for ``duration`` seconds."""
    source = (LUA / "common.lua").read_text() + "\n" + (LUA / f"{script}.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(source)
        path = handle.name
    try:
        command = [
            wrk_path(),
            "--threads",
            str(threads),
            "--connections",
            str(connections),
            "--duration",
            f"{max(1, round(duration))}s",
            "--timeout",
            f"{int(timeout)}s",
            "--script",
            path,
            url,
            "--",
            *args,
        ]
        result = subprocess.run(  # noqa: S603 - wrk with our own arguments
            command, capture_output=True, text=True, check=False, timeout=duration + 120
        )
    finally:
        Path(path).unlink(missing_ok=True)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            return LoadResult(json.loads(line))
    raise RuntimeError(f"wrk failed: {result.stdout[-1500:]} {result.stderr[-1500:]}")
