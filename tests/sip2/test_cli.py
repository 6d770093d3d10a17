"""``idp sip2 serve`` as an operator runs it: a subprocess on a temporary SQLite database."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.cli.demo import DEMO_READY
from idp.cli.demo import DEMO_TEMPORARY
from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from tests.conftest import SECRET
from tests.sip2.conftest import DLIBRARY_PASSWORD
from tests.sip2.conftest import SECRETS
from tests.sip2.conftest import TERMINAL_ENV
from tests.support.sip2 import QuietSip2

IDP = str(Path(sys.executable).parent / "idp")
LISTENING = re.compile(r"listening host=(\S+) port=(\d+)")


@pytest.fixture
def environment(tmp_path: Path, keys_dir: Path, terminals_file: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IDP_", "SIP2_", "FLASK_"))
    }
    env.update(TERMINAL_ENV)
    env.update(
        IDP_ISSUER="http://localhost",
        IDP_SECRET_KEY=SECRET,
        IDP_INSTANCE_DIR=str(tmp_path),
        IDP_DATABASE_URL=f"sqlite:///{tmp_path / 'sip2-cli.sqlite3'}",
        IDP_KEYS_DIR=str(keys_dir),
        IDP_ARGON2_TIME_COST="1",
        IDP_ARGON2_MEMORY_COST="256",
        IDP_SIP2_TERMINALS=str(terminals_file),
    )
    for command in (["init"], ["demo"]):
        subprocess.run(  # noqa: S603 - our own command line
            [IDP, *command], env=env, check=True, capture_output=True, timeout=120
        )
    return env


class Served:
    """A running ``idp sip2 serve`` and the lines it has logged."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.address: tuple[str, int] | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            found = LISTENING.search(line)
            if found:
                self.address = (found.group(1), int(found.group(2)))
                self._ready.set()
        self._ready.set()

    def wait_ready(self) -> tuple[str, int]:
        assert self._ready.wait(60), "the server did not start"
        assert self.address is not None, "".join(self.lines)
        return self.address

    def close(self) -> None:
        self._reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(15)
        self._reader.join(5)
        return code


@pytest.fixture
def served(environment: dict[str, str]) -> Iterator[Served]:
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [IDP, "sip2", "serve", "--host", "127.0.0.1", "--port", "0"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Served(process)
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(5)
    running.close()


def test_serve_answers_a_real_client_and_stops_on_sigterm(served: Served) -> None:
    client = QuietSip2()
    client.hostName, client.hostPort = served.wait_ready()
    client.tlsEnable = False
    client.institutionId = "CENTRAL"
    client.log = logging.getLogger("tests.sip2_client")
    client.connect()
    try:
        response = client.sip_login_response(
            client.get_response(client.sip_login_request("d-library", DLIBRARY_PASSWORD))
        )
        assert response["fixed"]["Ok"] == "1"
        client.patron, client.patronpwd = DEMO_READY
        ok = client.sip_patron_status_response(
            client.get_response(client.sip_patron_status_request())
        )
        assert (ok["variable"]["BL"], ok["variable"]["CQ"]) == (["Y"], ["Y"])
        client.patron, client.patronpwd = DEMO_TEMPORARY
        temporary = client.sip_patron_status_response(
            client.get_response(client.sip_patron_status_request())
        )
        assert temporary["variable"]["CQ"] == ["N"]
        assert temporary["variable"]["AF"] == [TEMPORARY_PASSWORD_SCREEN_MESSAGE["ja"]]
        client.patron, client.patronpwd = "0399999999", "nothing-1"
        unknown = client.sip_patron_status_response(
            client.get_response(client.sip_patron_status_request())
        )
        assert unknown["variable"]["BL"] == ["N"]
    finally:
        client.disconnect()
    assert served.stop() == 0
    log = "".join(served.lines)
    assert "level=INFO logger=idp.sip2 sip2: signal=SIGTERM shutting down" in log
    assert log.rstrip().endswith("sip2: stopped")
    assert "sip2.terminal_login.ok" in log
    for secret in (*SECRETS, DEMO_READY[1], DEMO_TEMPORARY[1]):
        assert secret not in log


def test_serve_refuses_to_start_without_the_terminal_passwords(
    environment: dict[str, str],
) -> None:
    env = {k: v for k, v in environment.items() if k != "SIP2_TEST_DLIBRARY"}
    result = subprocess.run(  # noqa: S603 - our own command line
        [IDP, "sip2", "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert (
        "Error: terminal 'd-library': environment variable SIP2_TEST_DLIBRARY is not set"
        in result.stderr
    )
