"""``idp sip2`` on the real database, driven by the PyPI ``sip2`` client and by raw messages.

The raw messages follow the shapes of the SIP2 2.00 specification's examples (the SC
Status ``9900302.00AY1AZFCA5``, the Patron Status Request of its checksum appendix), sent
with CR, CRLF and LF endings, with and without AY/AZ.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from Sip2.sip2 import Sip2
from sqlalchemy import select

from idp.extensions import db
from idp.models.audit import AuditEvent
from idp.models.patron import Patron
from idp.models.patron import PatronStatus
from idp.sip2.directory import TEMPORARY_PASSWORD_SCREEN_MESSAGE
from idp.sip2.messages import checksum
from idp.sip2.messages import parse_message
from idp.sip2.server import Sip2Server
from tests.sip2.conftest import DATE
from tests.sip2.conftest import DLIBRARY_PASSWORD
from tests.sip2.conftest import HASHED_PASSWORD
from tests.sip2.conftest import PROXY_PASSWORD
from tests.sip2.conftest import SECRETS
from tests.sip2.conftest import SELFCHECK_PASSWORD
from tests.sip2.conftest import login
from tests.sip2.conftest import patron_information
from tests.sip2.conftest import patron_status
from tests.sip2_status import parse_patron_status
from tests.support.factories import DEFAULT_PASSWORD
from tests.support.factories import change_settings
from tests.support.factories import make_patron
from tests.support.network import client_context
from tests.support.network import self_signed
from tests.support.sip2 import RawClient
from tests.support.sip2 import signed

READY = "0300000001"
TEMPORARY = "0300000000"
TEMPORARY_PASSWORD = "12345678"
UNKNOWN = "0399999999"
REFUSED = {
    "charge_privileges_denied",
    "renewal_privileges_denied",
    "recall_privileges_denied",
    "hold_privileges_denied",
}


@pytest.fixture
def ready(app: Flask) -> Patron:
    """A patron who has changed the temporary password (verified e-mail)."""
    return make_patron(READY, name="図書館 太郎", email="taro@example.org", is_email_verified=True)


@pytest.fixture
def temporary(app: Flask) -> Patron:
    """A patron still on the temporary password of the printed notice."""
    return make_patron(TEMPORARY, password=TEMPORARY_PASSWORD, temporary=True, name="図書館 花子")


# --- the independent client (Done when) ---------------------------------------------------


def test_pypi_client_gets_bl_cq_from_the_patron_store(
    sip2_client: Sip2, ready: Patron, temporary: Patron
) -> None:
    client = sip2_client
    response = client.sip_login_response(
        client.get_response(client.sip_login_request("d-library", DLIBRARY_PASSWORD))
    )
    assert response["fixed"]["Ok"] == "1"
    status = client.sip_sc_status_response(client.get_response(client.sip_sc_status_request()))
    assert status["fixed"]["OnlineStatus"] == "Y"
    assert status["variable"]["AO"] == ["CENTRAL"]

    client.patron, client.patronpwd = READY, DEFAULT_PASSWORD
    info = client.sip_patron_information_response(
        client.get_response(client.sip_patron_information_request("none"))
    )
    assert info["fixed"]["PatronStatus"] == " " * 14
    assert info["variable"]["BL"] == ["Y"]
    assert info["variable"]["CQ"] == ["Y"]
    assert info["variable"]["AE"] == ["図書館 太郎"]
    assert info["variable"]["BE"] == ["taro@example.org"]
    assert "AF" not in info["variable"]

    client.patron, client.patronpwd = TEMPORARY, TEMPORARY_PASSWORD
    refused = client.sip_patron_information_response(
        client.get_response(client.sip_patron_information_request("none"))
    )
    assert refused["variable"]["BL"] == ["Y"]
    assert refused["variable"]["CQ"] == ["N"]
    assert refused["variable"]["AF"] == [TEMPORARY_PASSWORD_SCREEN_MESSAGE["ja"]]
    assert refused["variable"]["AF"] == [
        "仮パスワードではログインできません。Myライブラリで仮パスワードを変更してからご利用ください。"
    ]
    assert refused["variable"]["AE"] == [""]  # nothing about the patron before a valid login

    client.patron, client.patronpwd = UNKNOWN, "whatever1"
    unknown = client.sip_patron_status_response(
        client.get_response(client.sip_patron_status_request())
    )
    assert unknown["variable"]["BL"] == ["N"]
    assert unknown["variable"]["CQ"] == ["N"]
    assert parse_patron_status(unknown["fixed"]["PatronStatus"]) >= REFUSED


def test_after_the_password_change_cq_turns_y(
    app: Flask, terminal: RawClient, temporary: Patron
) -> None:
    assert terminal.ask(patron_status(TEMPORARY, TEMPORARY_PASSWORD)).get("CQ") == "N"
    temporary.password_hash = app.extensions["idp"].passwords.hash("yomu2468")
    temporary.is_temporary_password = False
    db.session.commit()
    answer = terminal.ask(patron_status(TEMPORARY, "yomu2468"))
    assert (answer.get("BL"), answer.get("CQ"), answer.get("AF")) == ("Y", "Y", None)


def test_wrong_password_is_cq_n_and_counted(terminal: RawClient, ready: Patron) -> None:
    answer = terminal.ask(patron_status(READY, "wrong-password"))
    assert (answer.get("BL"), answer.get("CQ")) == ("Y", "N")
    assert answer.get("AE") == ""
    assert answer.get("AF") == "貸出カードの番号またはパスワードが正しくありません。"
    db.session.expire_all()
    assert db.session.get(Patron, ready.id).failed_login_count == 1  # type: ignore[union-attr]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "login.failed")).one()
    assert event.patron_id == ready.id
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "d-library"
    assert event.detail["channel"] == "sip2"


@pytest.mark.parametrize(
    ("change", "blocks", "af"),
    [
        (
            {"status": PatronStatus.SUSPENDED.value},
            REFUSED,
            "この貸出カードは現在ご利用いただけません。図書館の窓口にお問い合わせください。",
        ),
        (
            {"status": PatronStatus.LOST.value},
            REFUSED | {"card_reported_lost"},
            "この貸出カードは現在ご利用いただけません。図書館の窓口にお問い合わせください。",
        ),
        (
            {"expires_on": dt.date(2020, 3, 31)},
            REFUSED,
            "貸出カードの有効期限が切れています。図書館の窓口で更新してください。",
        ),
    ],
    ids=["suspended", "lost", "expired"],
)
def test_refused_cards_get_blocks_cq_n_and_the_reason(
    terminal: RawClient, ready: Patron, change: dict[str, Any], blocks: set[str], af: str
) -> None:
    for key, value in change.items():
        setattr(ready, key, value)
    db.session.commit()
    answer = terminal.ask(patron_information(READY, DEFAULT_PASSWORD))
    assert parse_patron_status(answer.fixed["patron_status"]) == blocks
    assert (answer.get("BL"), answer.get("CQ"), answer.get("AF")) == ("Y", "N", af)
    assert answer.get("AE") == ""
    assert answer.get("PA") == f"{ready.expires_on:%Y%m%d}    235959"
    # The same wrong password still says nothing about the card's state.
    wrong = terminal.ask(patron_information(READY, "not-the-password"))
    assert parse_patron_status(wrong.fixed["patron_status"]) == set()
    assert wrong.get("PA") is None


def test_expiry_goes_in_the_configured_field(terminal: RawClient, ready: Patron) -> None:
    answer = terminal.ask(patron_information(READY, DEFAULT_PASSWORD))
    assert answer.get("PA") == "20991231    235959"


def test_english_terminal_without_name_release(
    connect: Callable[..., RawClient], ready: Patron, temporary: Patron
) -> None:
    client = connect()
    assert client.ask(login("selfcheck", SELFCHECK_PASSWORD)).fixed == {"ok": "1"}
    ok = client.ask(patron_information(READY, DEFAULT_PASSWORD))
    assert ok.fixed["language"] == "001"
    assert (ok.get("BL"), ok.get("CQ"), ok.get("AE"), ok.get("BE")) == ("Y", "Y", "", None)
    refused = client.ask(patron_information(TEMPORARY, TEMPORARY_PASSWORD))
    assert refused.get("AF") == TEMPORARY_PASSWORD_SCREEN_MESSAGE["en"]
    wrong = client.ask(patron_information(READY, "wrong-password"))
    assert wrong.get("AF") == "The library card number or password is incorrect."


def test_lookup_without_password_tells_bl_only(terminal: RawClient, ready: Patron) -> None:
    known = terminal.ask(patron_status(READY))
    assert (known.get("BL"), known.get("CQ"), known.get("AE")) == ("Y", None, "")
    unknown = terminal.ask(patron_status(UNKNOWN))
    assert (unknown.get("BL"), unknown.get("CQ")) == ("N", None)
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "sip2.patron_lookup").order_by(AuditEvent.id)
    ).all()
    assert [e.detail["found"] for e in events] == [True, False]


def test_full_width_card_numbers_are_normalised(terminal: RawClient, ready: Patron) -> None:
    answer = terminal.ask(patron_status("０３００ ０００ ００１", DEFAULT_PASSWORD))
    assert (answer.get("BL"), answer.get("CQ")) == ("Y", "Y")


# --- raw messages as the specification writes them ------------------------------------------


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"], ids=["CR", "CRLF", "LF"])
def test_spec_messages_with_every_line_ending(
    connect: Callable[..., RawClient], ready: Patron, ending: bytes
) -> None:
    client = connect()
    assert client.ask(login("d-library", DLIBRARY_PASSWORD), ending).fixed == {"ok": "1"}
    status = client.ask(b"9900302.00AY1AZFCA5", ending)
    assert status.code == "98"
    assert status.sequence == 1
    assert status.has_checksum
    answer = client.ask(patron_status(READY, DEFAULT_PASSWORD, seq=4), ending)
    assert answer.code == "24"
    assert answer.sequence == 4
    assert (answer.get("BL"), answer.get("CQ")) == ("Y", "Y")


def test_without_error_detection_the_answer_has_no_checksum(
    connect: Callable[..., RawClient], ready: Patron
) -> None:
    client = connect()
    client.send(f"9300CNd-library|CO{DLIBRARY_PASSWORD}|".encode())
    assert client.read_raw() == b"941"
    client.send(f"23001{DATE}AOUWOLS|AA{READY}|AD{DEFAULT_PASSWORD}|AC|".encode())
    raw = client.read_raw()
    assert b"AZ" not in raw
    assert b"AY" not in raw
    answer = parse_message(raw)
    assert (answer.get("AO"), answer.get("BL"), answer.get("CQ")) == ("UWOLS", "Y", "Y")
    client.send(b"9900302.00")
    assert client.read_raw().startswith(b"98YNNNNN")
    # A sequence number without a checksum is echoed, still without a checksum.
    client.send(b"9900302.00AY3")
    raw = client.read_raw()
    assert raw.endswith(b"AY3")
    assert b"AZ" not in raw


def test_bad_checksum_gets_96_and_the_connection_stays(terminal: RawClient, ready: Patron) -> None:
    good = patron_status(READY, DEFAULT_PASSWORD)
    terminal.send(good[:-4] + b"0000")
    assert terminal.read_raw() == b"96AZFEF6"
    assert terminal.ask(good).get("CQ") == "Y"


def test_garbage_gets_96_then_a_hang_up(terminal: RawClient) -> None:
    for _ in range(3):
        terminal.send(b"\xff\xfe not sip at all")
        assert terminal.read_raw().startswith(b"96")
    terminal.send(b"hello")
    assert terminal.is_closed()


def test_unknown_message_closes(terminal: RawClient) -> None:
    terminal.send(signed("11YN20060101    084237"))
    assert terminal.is_closed()


def test_patron_requests_need_a_terminal_login(
    connect: Callable[..., RawClient], ready: Patron
) -> None:
    client = connect()
    client.send(patron_status(READY, DEFAULT_PASSWORD))
    assert client.is_closed()


def test_terminal_without_login_sends_its_password_in_ac(
    connect: Callable[..., RawClient], ready: Patron
) -> None:
    client = connect()
    answer = client.ask(patron_status(READY, DEFAULT_PASSWORD, ac=PROXY_PASSWORD))
    assert (answer.get("BL"), answer.get("CQ")) == ("Y", "Y")
    wrong = connect()
    wrong.send(patron_status(READY, DEFAULT_PASSWORD, ac="not-a-terminal-password"))
    assert wrong.is_closed()
    failed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "sip2.terminal_login.failed")
    ).one()
    assert failed.detail["reason"] == "invalid"


def test_terminal_password_from_an_argon2_hash(connect: Callable[..., RawClient]) -> None:
    client = connect()
    assert client.ask(login("hashed", "wrong-terminal-password")).fixed == {"ok": "0"}
    assert client.ask(login("hashed", HASHED_PASSWORD)).fixed == {"ok": "1"}


def test_terminal_outside_its_networks_is_refused(connect: Callable[..., RawClient]) -> None:
    client = connect()
    assert client.ask(login("faraway", HASHED_PASSWORD)).fixed == {"ok": "0"}
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "sip2.terminal_login.failed")
    ).one()
    assert event.detail["reason"] == "network"
    assert event.detail["terminal"] == "faraway"


def test_terminal_logins_are_audited(connect: Callable[..., RawClient]) -> None:
    client = connect()
    assert client.ask(login("d-library", "wrong")).fixed == {"ok": "0"}
    assert client.ask(login("nobody", DLIBRARY_PASSWORD)).fixed == {"ok": "0"}
    assert client.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.event, e.detail["terminal"]) for e in events] == [
        ("sip2.terminal_login.failed", "d-library"),
        ("sip2.terminal_login.failed", "nobody"),
        ("sip2.terminal_login.ok", "d-library"),
    ]
    assert all(e.ip == "127.0.0.1" for e in events)


def test_no_password_reaches_the_log_or_the_audit(
    terminal: RawClient, ready: Patron, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    terminal.ask(patron_status(READY, DEFAULT_PASSWORD))
    terminal.ask(patron_status(READY, "wrong-password"))
    terminal.ask(login("d-library", "typo-" + DLIBRARY_PASSWORD))
    stored = " ".join(
        str(e.detail) + str(e.user_agent) for e in db.session.scalars(select(AuditEvent))
    )
    for secret in (*SECRETS, DEFAULT_PASSWORD, "wrong-password"):
        assert secret not in caplog.text
        assert secret not in stored


# --- limits -----------------------------------------------------------------------------------


def test_over_long_message_closes_the_connection(
    make_server: Callable[..., Sip2Server], app: Flask
) -> None:
    change_settings(app, IDP_SIP2_MAX_MESSAGE=256)
    server = make_server()
    with socket.create_connection(server.address, timeout=5) as sock:
        client = RawClient(sock)
        assert client.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
        client.send(patron_status("1" * 300, "x"))
        assert client.is_closed()
    with socket.create_connection(server.address, timeout=5) as sock:
        # No line end at all: closed once the buffer passes the cap.
        sock.sendall(b"9" * 1000)
        assert RawClient(sock).is_closed()


def test_idle_connection_times_out(make_server: Callable[..., Sip2Server], app: Flask) -> None:
    change_settings(app, IDP_SIP2_IDLE_TIMEOUT=0.5)
    server = make_server()
    with socket.create_connection(server.address, timeout=5) as sock:
        started = time.monotonic()
        assert RawClient(sock).is_closed()
        assert 0.3 < time.monotonic() - started < 4


def test_connection_cap(make_server: Callable[..., Sip2Server], app: Flask) -> None:
    change_settings(app, IDP_SIP2_MAX_CONNECTIONS=2)
    server = make_server()
    held = [socket.create_connection(server.address, timeout=5) for _ in range(2)]
    try:
        for sock in held:
            assert RawClient(sock).ask(b"9900302.00AY1AZFCA5").code == "98"
        with socket.create_connection(server.address, timeout=5) as extra:
            assert RawClient(extra).is_closed()
    finally:
        for sock in held:
            sock.close()
    # A slot frees once a connection ends.
    deadline = time.monotonic() + 5
    while True:
        with socket.create_connection(server.address, timeout=5) as again:
            try:
                if RawClient(again).ask(b"9900302.00AY1AZFCA5").code == "98":
                    break
            except ConnectionError:
                pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_tls_with_a_self_signed_certificate(
    make_server: Callable[..., Sip2Server], ready: Patron, tmp_path: Path
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server = make_server(tls_cert=str(cert_file), tls_key=str(key_file))
    assert server.is_tls
    raw = socket.create_connection(server.address, timeout=5)
    with client_context(cert_file).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        client = RawClient(tls)
        assert client.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
        answer = client.ask(patron_status(READY, DEFAULT_PASSWORD))
        assert (answer.get("BL"), answer.get("CQ"), answer.get("AE")) == ("Y", "Y", "図書館 太郎")
    with socket.create_connection(server.address, timeout=5) as plain:
        plain.sendall(login("d-library", DLIBRARY_PASSWORD) + b"\r")
        assert RawClient(plain).is_closed()


def test_checksum_helper_matches_the_spec_example() -> None:
    # The specification's SC Status example, checked with the same helper the tests sign with.
    assert checksum(b"9900302.00AY1AZ") == "FCA5"


def test_expired_temporary_password(terminal: RawClient, app: Flask, now: dt.datetime) -> None:
    make_patron(
        TEMPORARY,
        password=TEMPORARY_PASSWORD,
        temporary=True,
        temporary_password_expires_at=now - dt.timedelta(days=1),
    )
    answer = terminal.ask(patron_status(TEMPORARY, TEMPORARY_PASSWORD))
    assert (answer.get("BL"), answer.get("CQ")) == ("Y", "N")
    assert answer.get("AF") == (
        "仮パスワードの有効期限が切れています。図書館の窓口で新しい仮パスワードの発行を受けてください。"
    )
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "login.refused")).one()
    assert event.detail["outcome"] == "temporary_password_expired"


def test_concurrent_terminals_each_get_their_own_answer(
    connect: Callable[..., RawClient], ready: Patron, temporary: Patron
) -> None:
    import threading

    clients = [connect() for _ in range(6)]
    for client in clients:
        assert client.ask(login("d-library", DLIBRARY_PASSWORD)).fixed == {"ok": "1"}
    results: dict[int, list[tuple[str | None, str | None]]] = {}

    def run(index: int, client: RawClient) -> None:
        card, password = (READY, DEFAULT_PASSWORD) if index % 2 else (TEMPORARY, TEMPORARY_PASSWORD)
        answers = []
        for seq in range(4):
            answer = client.ask(patron_status(card, password, seq=seq))
            answers.append((answer.get("AA"), answer.get("CQ")))
        results[index] = answers

    threads = [threading.Thread(target=run, args=item) for item in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for index in range(6):
        expected = (READY, "Y") if index % 2 else (TEMPORARY, "N")
        assert results[index] == [expected] * 4


def test_check_digits_apply_to_sip2(app: Flask, terminal: RawClient) -> None:
    change_settings(app, IDP_CARD_CHECK_DIGIT="M10W21")
    make_patron("0300000007")  # a valid modulus 10 weight 2-1 number
    assert terminal.ask(patron_status("0300000007", DEFAULT_PASSWORD)).get("CQ") == "Y"
    assert terminal.ask(patron_status("０３００－０００－００７")).get("BL") == "Y"
    # A wrong check digit is nobody's card, with or without a password.
    assert terminal.ask(patron_status("0300000008")).get("BL") == "N"
    wrong = terminal.ask(patron_status("0300000008", DEFAULT_PASSWORD))
    assert (wrong.get("BL"), wrong.get("CQ")) == ("N", "N")
