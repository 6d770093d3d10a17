"""The SIP2 ACS over real loopback sockets: raw conversations and the PyPI ``sip2`` client."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import logging
import socket
import ssl
import time
from collections.abc import Callable
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from Sip2.sip2 import Sip2

from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from idp.sip2.messages import parse_message
from idp.sip2.server import Sip2Server
from idp.sip2.session import Sip2Options
from idp.sip2.session import Sip2Session
from idp.sip2.session import TerminalRegistry
from idp.sip2.session import TerminalSettings
from tests.sip2_status import parse_patron_status
from tests.support.network import client_context
from tests.support.network import self_signed
from tests.support.network import server_context
from tests.support.sip2 import RawClient
from tests.support.sip2 import pypi_client
from tests.support.sip2 import raw_connections
from tests.support.sip2 import server_starter
from tests.support.sip2 import signed
from tests.support.sip2_directory import REFUSED_BLOCKS
from tests.support.sip2_directory import StaticDirectory
from tests.support.sip2_directory import StaticPatron

#: 09:30 in Tokyo, the library's zone.
NOW = dt.datetime(2026, 4, 1, 0, 30, tzinfo=dt.UTC)
DATE = "20260401    093000"
SUMMARY = " " * 10
HANAKO = "0300000001"
TEMPORARY = "0300000002"
SUSPENDED = "0300000003"
PATRONS = {
    HANAKO: StaticPatron(
        "4321", name="図書 花子", email="hanako@example.jp", expires_on=dt.date(2028, 11, 30)
    ),
    TEMPORARY: StaticPatron("12345678", is_temporary_password=True, name="仮 太郎"),
    SUSPENDED: StaticPatron("5555", is_suspended=True),
}
TERMINALS = {
    "dlibrary": ("dlib-pass", TerminalSettings(is_name_released=True, is_email_released=True)),
    "selfcheck": ("sc-pass", TerminalSettings(language="en")),
    "proxy": ("proxy-pass", TerminalSettings(language="en", is_login_required=False)),
}
PASSWORDS = ("dlib-pass", "sc-pass", "proxy-pass", "4321", "12345678", "5555")


def login(user: str, password: str, seq: int = 0) -> bytes:
    return signed(f"9300CN{user}|CO{password}|CPカウンター|AY{seq}")


def patron_status(card: str, password: str = "", *, ac: str = "", seq: int = 1) -> bytes:
    return signed(f"23000{DATE}AONIIGATA|AA{card}|AC{ac}|AD{password}|AY{seq}")


def patron_information(card: str, password: str = "", *, ac: str = "", seq: int = 1) -> bytes:
    return signed(f"63000{DATE}{SUMMARY}AONIIGATA|AA{card}|AC{ac}|AD{password}|AY{seq}")


@pytest.fixture
def directory() -> StaticDirectory:
    return StaticDirectory(PATRONS)


@pytest.fixture
def make_server(directory: StaticDirectory) -> Iterator[Callable[..., Sip2Server]]:
    def build(ssl_context: ssl.SSLContext | None = None, **overrides: Any) -> Sip2Server:
        options = Sip2Options(
            institution_id="NIIGATA",
            library_name="新潟市立中央図書館",
            clock=lambda: NOW,
            **overrides,
        )
        return Sip2Server(
            directory, TERMINALS, host="127.0.0.1", port=0, ssl_context=ssl_context, options=options
        )

    with server_starter(build) as make:
        yield make


@pytest.fixture
def server(make_server: Callable[..., Sip2Server]) -> Sip2Server:
    return make_server()


@pytest.fixture
def connect() -> Iterator[Callable[[Sip2Server], RawClient]]:
    with raw_connections() as open_:
        yield partial(open_, timeout=3)


@pytest.fixture
def terminal(server: Sip2Server, connect: Callable[[Sip2Server], RawClient]) -> RawClient:
    """A connection logged in as the e-library vendor's terminal (Japanese, name and e-mail)."""
    client = connect(server)
    assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
    return client


def test_binds_a_free_port_on_loopback(server: Sip2Server) -> None:
    assert server.address[0] == "127.0.0.1"
    assert server.port > 0


def test_login_answers_941_with_the_same_sequence_and_a_checksum(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(server)
    client.send(login("dlibrary", "dlib-pass", seq=7))
    assert client.read_raw() == signed("941AY7")


def test_patron_status_exact_response(terminal: RawClient) -> None:
    terminal.send(patron_status(HANAKO, "4321", seq=2))
    expected = f"24{' ' * 14}014{DATE}AONIIGATA|AA{HANAKO}|AE図書 花子|BLY|CQY|AY2"
    assert terminal.read_raw() == signed(expected)


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_accepts_cr_lf_and_crlf(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient], ending: bytes
) -> None:
    client = connect(server)
    assert client.ask(login("dlibrary", "dlib-pass"), ending).fixed == {"ok": "1"}
    response = client.ask(patron_status(HANAKO, "4321"), ending)
    assert response.code == "24"
    assert response.get("CQ") == "Y"
    response = client.ask(b"9900302.00AY1AZFCA5", ending)
    assert response.code == "98"


def test_pipelined_messages_get_answers_in_order(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(server)
    client.send(login("dlibrary", "dlib-pass", 1) + b"\r" + patron_status(HANAKO, "4321", seq=2))
    assert parse_message(client.read_raw()).sequence == 1
    assert parse_message(client.read_raw()).get("BL") == "Y"


def test_sc_status_describes_the_acs(terminal: RawClient) -> None:
    response = terminal.ask(b"9900302.00AY1AZFCA5")
    assert response.fixed == {
        "online_status": "Y",
        "checkin_ok": "N",
        "checkout_ok": "N",
        "acs_renewal_policy": "N",
        "status_update_ok": "N",
        "offline_ok": "N",
        "timeout_period": "999",
        "retries_allowed": "003",
        "date_time_sync": DATE,
        "protocol_version": "2.00",
    }
    assert response.get("AO") == "NIIGATA"
    assert response.get("AM") == "新潟市立中央図書館"
    # Patron status, SC status, resend, login, patron information, end session.
    assert response.get("BX") == "YNNNYYYYYNNNNNNN"
    assert response.get("AN") == "カウンター"
    assert response.sequence == 1


def test_sc_status_is_answered_before_login(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(server)
    assert client.ask(b"9900302.00AY1AZFCA5").get("BX") == "YNNNYYYYYNNNNNNN"


def test_patron_information_releases_name_and_email_to_an_allowed_terminal(
    terminal: RawClient, directory: StaticDirectory
) -> None:
    response = terminal.ask(patron_information(HANAKO, "4321", seq=3))
    assert response.code == "64"
    assert response.fixed["language"] == "014"
    assert response.fixed["transaction_date"] == DATE
    assert response.fixed["hold_items_count"] == "    "
    assert parse_patron_status(response.fixed["patron_status"]) == frozenset()
    assert response.get("AE") == "図書 花子"
    assert response.get("BE") == "hanako@example.jp"
    assert (response.get("BL"), response.get("CQ")) == ("Y", "Y")
    assert response.get("PA") is None  # no expiry extension unless configured
    assert directory.calls[-1].terminal == "dlibrary"
    assert directory.calls[-1].source_ip == "127.0.0.1"


def test_name_and_email_withheld_from_other_terminals(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(server)
    client.ask(login("selfcheck", "sc-pass"))
    response = client.ask(patron_information(HANAKO, "4321"))
    assert response.get("AE") == ""  # a required field, sent empty
    assert response.get("BE") is None
    assert (response.get("BL"), response.get("CQ")) == ("Y", "Y")
    assert response.fixed["language"] == "001"


@pytest.mark.parametrize(
    ("user", "password", "language", "text"),
    [
        ("dlibrary", "dlib-pass", "014", TEMPORARY_PASSWORD_SCREEN_MESSAGE["ja"]),
        ("selfcheck", "sc-pass", "001", TEMPORARY_PASSWORD_SCREEN_MESSAGE["en"]),
    ],
)
def test_temporary_password_is_refused_in_the_terminals_language(
    server: Sip2Server,
    connect: Callable[[Sip2Server], RawClient],
    user: str,
    password: str,
    language: str,
    text: str,
) -> None:
    client = connect(server)
    client.ask(login(user, password))
    for request in (patron_status, patron_information):
        response = client.ask(request(TEMPORARY, "12345678"))
        assert (response.get("BL"), response.get("CQ")) == ("Y", "N")
        assert response.get("AF") == text
        assert response.fixed["language"] == language
    assert TEMPORARY_PASSWORD_SCREEN_MESSAGE["ja"] == (
        "仮パスワードではログインできません。Myライブラリで仮パスワードを変更してからご利用ください。"
    )


def test_wrong_password_and_unknown_card(terminal: RawClient) -> None:
    wrong = terminal.ask(patron_status(HANAKO, "9999"))
    assert (wrong.get("BL"), wrong.get("CQ")) == ("Y", "N")
    unknown = terminal.ask(patron_status("0399999999", "9999"))
    assert (unknown.get("BL"), unknown.get("CQ")) == ("N", "N")
    assert unknown.get("AE") == ""
    # An unknown card is refused service in the status field too.
    assert parse_patron_status(unknown.fixed["patron_status"]) == REFUSED_BLOCKS


def test_status_blocks_come_from_the_directory(terminal: RawClient) -> None:
    response = terminal.ask(patron_status(SUSPENDED, "5555"))
    assert response.fixed["patron_status"] == "YYYY          "
    assert (response.get("BL"), response.get("CQ")) == ("Y", "Y")


def test_without_a_password_cq_is_omitted(terminal: RawClient, directory: StaticDirectory) -> None:
    response = terminal.ask(patron_status(HANAKO))
    assert response.get("BL") == "Y"
    assert response.get("CQ") is None
    assert directory.calls[-1].password is None


def test_card_numbers_are_normalised_before_the_directory(
    terminal: RawClient, directory: StaticDirectory
) -> None:
    response = terminal.ask(patron_status("０３００－０００ ００１", "4321"))
    assert directory.calls[-1].card_number == HANAKO
    assert (response.get("BL"), response.get("CQ")) == ("Y", "Y")
    assert response.get("AA") == "０３００－０００ ００１"  # echoed as the terminal sent it


def test_end_patron_session(terminal: RawClient) -> None:
    response = terminal.ask(signed(f"35{DATE}AONIIGATA|AA{HANAKO}|AC|AD4321|AY4"))
    assert response.code == "36"
    assert response.fixed == {"end_session": "Y", "transaction_date": DATE}
    assert (response.get("AO"), response.get("AA"), response.sequence) == ("NIIGATA", HANAKO, 4)


def test_request_acs_resend_repeats_the_last_response(terminal: RawClient) -> None:
    terminal.send(patron_status(HANAKO, "4321", seq=5))
    first = terminal.read_raw()
    terminal.send(signed("97"))
    assert terminal.read_raw() == first


def test_bad_checksum_asks_for_a_resend_and_keeps_the_connection(terminal: RawClient) -> None:
    corrupted = bytearray(patron_status(HANAKO, "4321"))
    corrupted[30] ^= 0x01
    terminal.send(bytes(corrupted))
    assert terminal.read_raw() == b"96AZFEF6"
    assert terminal.ask(patron_status(HANAKO, "4321")).get("CQ") == "Y"


@pytest.mark.parametrize(
    "garbage",
    [b"hello", b"\x00\xff\xfe\x80", b"93", b"9300CNonly|", b"GET / HTTP/1.1"],
)
def test_garbage_gets_a_resend_request(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient], garbage: bytes
) -> None:
    client = connect(server)
    client.send(garbage)
    assert client.read_raw() == b"96AZFEF6"


def test_repeated_garbage_closes_the_connection(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(server)
    for _ in range(3):
        client.send(b"garbage")
        assert client.read_raw() == b"96AZFEF6"
    client.send(b"garbage")
    assert client.is_closed()


def test_unsupported_message_closes_the_connection(terminal: RawClient) -> None:
    terminal.send(signed(f"11YN{DATE}{DATE}AONIIGATA|AA{HANAKO}|AB123|AC|"))
    assert terminal.is_closed()


@pytest.mark.parametrize("ending", [b"", b"\r"], ids=["unterminated", "terminated"])
def test_over_long_message_closes_the_connection(
    make_server: Callable[..., Sip2Server],
    connect: Callable[[Sip2Server], RawClient],
    ending: bytes,
) -> None:
    client = connect(make_server(max_message_bytes=256))
    assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
    client.send(b"9300CNdlibrary|CO" + b"x" * 300, ending)
    assert client.is_closed()


def test_patron_requests_need_a_login(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient], directory: StaticDirectory
) -> None:
    for request in (patron_status, patron_information):
        client = connect(server)
        client.send(request(HANAKO, "4321"))
        assert client.is_closed()
    # A login-required terminal cannot skip the login by putting its password in AC.
    client = connect(server)
    client.send(patron_status(HANAKO, "4321", ac="dlib-pass"))
    assert client.is_closed()
    assert directory.calls == []


def test_terminal_without_login_identifies_itself_with_ac(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient], directory: StaticDirectory
) -> None:
    client = connect(server)
    response = client.ask(patron_status(HANAKO, "4321", ac="proxy-pass"))
    assert (response.get("BL"), response.get("CQ")) == ("Y", "Y")
    assert directory.calls[-1].terminal == "proxy"
    client.send(patron_status(HANAKO, "4321", ac="wrong"))
    assert client.is_closed()


def test_failed_logins_close_the_connection_after_three(
    server: Sip2Server, connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(server)
    assert client.ask(login("dlibrary", "wrong")).fixed == {"ok": "0"}
    assert client.ask(login("nobody", "dlib-pass")).fixed == {"ok": "0"}
    assert client.ask(signed("9310CNdlibrary|COdlib-pass|AY3")).fixed == {"ok": "0"}
    assert client.is_closed()


def test_a_failed_login_ends_the_previous_one(terminal: RawClient) -> None:
    assert terminal.ask(login("dlibrary", "wrong")).fixed == {"ok": "0"}
    terminal.send(patron_status(HANAKO, "4321"))
    assert terminal.is_closed()


def test_expiry_extension_field(
    make_server: Callable[..., Sip2Server], connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(make_server(expiry_field="PA"))
    client.ask(login("dlibrary", "dlib-pass"))
    assert client.ask(patron_information(HANAKO, "4321")).get("PA") == "20281130    235959"


def test_connection_cap_closes_extra_connections_at_once(
    make_server: Callable[..., Sip2Server], connect: Callable[[Sip2Server], RawClient]
) -> None:
    server = make_server(max_connections=2)
    first, second = connect(server), connect(server)
    for client in (first, second):
        assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
    started = time.monotonic()
    assert connect(server).is_closed()
    assert time.monotonic() - started < 1
    first.close()
    # The freed slot is usable once the server has noticed the hang-up.
    deadline = time.monotonic() + 3
    while True:
        client = connect(server)
        try:
            assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
            break
        except (ConnectionError, OSError):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert second.ask(patron_status(HANAKO, "4321")).get("CQ") == "Y"


def test_idle_connections_are_closed(
    make_server: Callable[..., Sip2Server], connect: Callable[[Sip2Server], RawClient]
) -> None:
    client = connect(make_server(idle_timeout=0.5))
    assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
    started = time.monotonic()
    assert client.is_closed()
    assert 0.4 <= time.monotonic() - started < 2


def test_a_trickle_without_a_complete_message_counts_as_idle(
    make_server: Callable[..., Sip2Server], connect: Callable[[Sip2Server], RawClient]
) -> None:
    idle = 0.5
    server = make_server(idle_timeout=idle)
    started = time.monotonic()
    client = connect(server)
    client.sock.settimeout(idle / 10)
    # A byte of a login every 50 ms (the read's timeout), never a whole message, for up to
    # ten idle timeouts: a server that took bytes for activity would keep the connection
    # that long, however slow the machine; this one hangs up once the first timeout is over.
    for byte in itertools.islice(itertools.cycle(b"9300CN"), 200):
        try:
            client.sock.sendall(bytes([byte]))
            if client.sock.recv(4096) == b"":
                break  # hung up
        except TimeoutError:
            if time.monotonic() - started > 10 * idle:
                pytest.fail("a trickle of bytes kept an idle connection open")
        except (ConnectionResetError, BrokenPipeError):
            break  # a byte arrived after the hang-up
    else:
        pytest.fail("a trickle of bytes kept an idle connection open")
    # Counted from the connection, not renewed by the bytes; and not before it was due.
    assert time.monotonic() - started >= idle


def test_directory_failure_closes_the_connection_and_logs_no_password(
    server: Sip2Server,
    connect: Callable[[Sip2Server], RawClient],
    directory: StaticDirectory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="idp.sip2")
    client = connect(server)
    client.ask(login("dlibrary", "dlib-pass"))
    client.ask(patron_status(HANAKO, "4321"))
    directory.error = RuntimeError("database unreachable while checking 4321")
    client.send(patron_status(HANAKO, "4321"))
    assert client.is_closed()
    assert "RuntimeError while serving terminal dlibrary" in caplog.text
    assert "logged in" in caplog.text
    for secret in PASSWORDS:
        assert secret not in caplog.text


def test_shutdown_ends_open_connections_promptly(
    directory: StaticDirectory, connect: Callable[[Sip2Server], RawClient]
) -> None:
    server = Sip2Server(directory, TERMINALS, port=0)
    server.start()
    client = connect(server)
    assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
    started = time.monotonic()
    server.shutdown()
    assert time.monotonic() - started < 2
    assert client.is_closed()
    server.shutdown()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=1).close()


def test_rejects_bad_terminal_configuration(directory: StaticDirectory) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        TerminalRegistry({"x": ("", TerminalSettings())})
    twins = {
        "a": ("same", TerminalSettings(is_login_required=False)),
        "b": ("same", TerminalSettings(is_login_required=False)),
    }
    with pytest.raises(ValueError, match="distinct passwords"):
        Sip2Server(directory, twins, port=0)
    with pytest.raises(ValueError, match="unsupported terminal language 'fr'"):
        TerminalSettings(language="fr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two upper-case letters"):
        Sip2Options(expiry_field="expiry")
    with pytest.raises(LookupError):
        Sip2Options(encoding="no-such-codec")


def test_session_without_io(directory: StaticDirectory) -> None:
    session = Sip2Session(
        directory, TerminalRegistry(TERMINALS), Sip2Options(clock=lambda: NOW), source_ip="10.0.0.9"
    )
    # Nothing to repeat yet: ask the terminal to resend instead.
    assert session.handle(signed("97")).data == b"96AZFEF6\r"
    reply = session.handle(login("selfcheck", "sc-pass", seq=3))
    assert reply.data == signed("941AY3") + b"\r"
    assert session.terminal is not None
    assert session.terminal.name == "selfcheck"
    # Without error detection from the terminal, none in the answer either.
    reply = session.handle(f"23001{DATE}AOX|AA{HANAKO}|AC|AD4321|".encode())
    assert reply.data is not None
    assert b"AZ" not in reply.data
    assert directory.calls[-1].source_ip == "10.0.0.9"


# --- TLS -------------------------------------------------------------------------------


def _tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert_file, key_file = self_signed(tmp_path)
    return server_context(cert_file, key_file), client_context(cert_file)


def test_tls(make_server: Callable[..., Sip2Server], tmp_path: Path) -> None:
    server_context, client_context = _tls_contexts(tmp_path)
    server = make_server(ssl_context=server_context)
    raw = socket.create_connection(server.address, timeout=3)
    with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        client = RawClient(tls)
        assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
        assert client.ask(patron_status(HANAKO, "4321")).get("AE") == "図書 花子"
    # Plain text on the TLS port fails the handshake and is closed.
    with socket.create_connection(server.address, timeout=3) as plain:
        plain.sendall(login("dlibrary", "dlib-pass") + b"\r")
        assert RawClient(plain).is_closed()
    # A client stuck before its handshake does not hold up shutdown (idle timeout: 60 s).
    with socket.create_connection(server.address, timeout=3) as silent:
        time.sleep(0.1)
        started = time.monotonic()
        server.shutdown()
        assert time.monotonic() - started < 2
        assert RawClient(silent).is_closed()


# --- the PyPI sip2 client ----------------------------------------------------------------


@pytest.fixture
def sip2_client(server: Sip2Server) -> Iterator[Sip2]:
    with pypi_client(server, "NIIGATA") as client:
        yield client


def test_pypi_sip2_client_logs_in_and_checks_a_patron(sip2_client: Sip2) -> None:
    client = sip2_client
    login_response = client.sip_login_response(
        client.get_response(client.sip_login_request("dlibrary", "dlib-pass"))
    )
    assert login_response["fixed"]["Ok"] == "1"

    status = client.sip_sc_status_response(client.get_response(client.sip_sc_status_request()))
    assert status["fixed"]["OnlineStatus"] == "Y"
    assert status["fixed"]["ProtocolVersion"] == "2.00"
    assert status["variable"]["BX"] == ["YNNNYYYYYNNNNNNN"]

    client.patron, client.patronpwd = HANAKO, "4321"
    patron = client.sip_patron_status_response(
        client.get_response(client.sip_patron_status_request())
    )
    assert patron["fixed"]["PatronStatus"] == " " * 14
    assert patron["fixed"]["Language"] == "014"
    assert patron["variable"]["BL"] == ["Y"]
    assert patron["variable"]["CQ"] == ["Y"]
    assert patron["variable"]["AE"] == ["図書 花子"]

    information = client.sip_patron_information_response(
        client.get_response(client.sip_patron_information_request("none"))
    )
    assert information["variable"]["BE"] == ["hanako@example.jp"]
    assert information["variable"]["CQ"] == ["Y"]

    client.patron, client.patronpwd = TEMPORARY, "12345678"
    refused = client.sip_patron_information_response(
        client.get_response(client.sip_patron_information_request("none"))
    )
    assert refused["variable"]["CQ"] == ["N"]
    assert refused["variable"]["AF"] == [TEMPORARY_PASSWORD_SCREEN_MESSAGE["ja"]]

    ended = client.get_response(client.sip_end_patron_session_request())
    assert ended.startswith("36Y")


def test_pypi_sip2_client_is_refused_with_a_wrong_terminal_password(sip2_client: Sip2) -> None:
    response = sip2_client.sip_login_response(
        sip2_client.get_response(sip2_client.sip_login_request("dlibrary", "nope"))
    )
    assert response["fixed"]["Ok"] == "0"


def _connect_from(server: Sip2Server, source_ip: str) -> RawClient:
    """A connection from another loopback address (all of 127.0.0.0/8 is this host)."""
    return RawClient(
        socket.create_connection(server.address, timeout=3, source_address=(source_ip, 0))
    )


def test_one_address_cannot_take_every_connection(
    make_server: Callable[..., Sip2Server],
) -> None:
    server = make_server(max_connections=6, max_connections_per_address=3)
    flood = [_connect_from(server, "127.0.0.3") for _ in range(3)]
    try:
        for client in flood:  # held open, chatting ACS Status without a login
            assert client.ask(signed("9900302.00AY1")).code == "98"
        started = time.monotonic()
        refused = _connect_from(server, "127.0.0.3")
        assert refused.is_closed()
        assert time.monotonic() - started < 1
        refused.close()
        # A real terminal from another address still gets a connection and an answer.
        desk = _connect_from(server, "127.0.0.2")
        assert desk.ask(login("selfcheck", "sc-pass")).fixed == {"ok": "1"}
        assert desk.ask(patron_status(HANAKO, "4321")).get("CQ") == "Y"
        desk.close()
        # The flooding address gets a slot back when it closes one.
        flood.pop().close()
        deadline = time.monotonic() + 3
        while True:
            again = _connect_from(server, "127.0.0.3")
            flood.append(again)
            try:
                assert again.ask(signed("9900302.00AY2")).code == "98"
                break
            except (ConnectionError, OSError):
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        for client in flood:
            client.close()


def test_acs_status_before_login_does_not_extend_the_login_deadline(
    make_server: Callable[..., Sip2Server],
) -> None:
    server = make_server(login_timeout=0.6, idle_timeout=5)
    client = _connect_from(server, "127.0.0.3")
    started = time.monotonic()
    try:
        with pytest.raises((ConnectionError, OSError)):
            for sequence in range(20):
                assert client.ask(signed(f"9900302.00AY{sequence % 10}")).code == "98"
                time.sleep(0.15)
        assert 0.5 <= time.monotonic() - started < 1.5
    finally:
        client.close()


def test_after_login_the_idle_timeout_applies_instead(
    make_server: Callable[..., Sip2Server], connect: Callable[[Sip2Server], RawClient]
) -> None:
    server = make_server(login_timeout=0.4, idle_timeout=5)
    client = connect(server)
    assert client.ask(login("dlibrary", "dlib-pass")).fixed == {"ok": "1"}
    time.sleep(0.6)
    assert client.ask(signed("9900302.00AY1")).code == "98"
    # A terminal without login authenticates with its first request carrying AC.
    proxy = connect(server)
    assert proxy.ask(patron_status(HANAKO, "4321", ac="proxy-pass")).get("CQ") == "Y"
    time.sleep(0.6)
    assert proxy.ask(patron_status(HANAKO, "4321", ac="proxy-pass", seq=2)).get("CQ") == "Y"


def test_addresses_outside_every_terminals_networks_are_refused_at_accept(
    directory: StaticDirectory,
) -> None:
    only_desk = ipaddress.ip_network("127.0.0.2/32")
    terminals = {"selfcheck": ("sc-pass", TerminalSettings(allowed_networks=(only_desk,)))}
    options = Sip2Options(institution_id="NIIGATA", clock=lambda: NOW)
    with Sip2Server(directory, terminals, port=0, options=options) as server:
        server.start()
        stranger = _connect_from(server, "127.0.0.1")
        started = time.monotonic()
        assert stranger.is_closed()  # closed before it could send a byte
        assert time.monotonic() - started < 1
        stranger.close()
        desk = _connect_from(server, "127.0.0.2")
        assert desk.ask(login("selfcheck", "sc-pass")).fixed == {"ok": "1"}
        desk.close()
