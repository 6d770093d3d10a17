"""Outgoing mail against a real SMTP server on loopback: plain, AUTH, STARTTLS, smtps."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.services.mail import MailError
from idp.services.mail import OutboxMailer
from idp.services.mail import SmtpMailer
from idp.services.mail import SmtpSettings
from idp.services.mail import build_message
from idp.services.mail import create_mailer
from tests.support.mailserver import SMTP_PASSWORD
from tests.support.mailserver import MailServer
from tests.support.network import client_context as trusting
from tests.support.network import reserved_port
from tests.support.network import server_context


def _message() -> object:
    return build_message(
        to="hanako@example.org",
        subject="利用者情報登録完了のお知らせ",
        body="メールアドレスの確認をお願いします。\nhttps://idp.example.org/x",
        from_addr="library@example.org",
    )


@pytest.fixture
def client_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return trusting(tls_files[0])


def _running(server: MailServer) -> Iterator[MailServer]:
    server.start()
    yield server
    server.stop()


@pytest.fixture
def plain_server() -> Iterator[MailServer]:
    yield from _running(MailServer())


@pytest.fixture
def auth_server() -> Iterator[MailServer]:
    yield from _running(MailServer(auth=True))


def test_message_is_utf8_with_date_and_message_id() -> None:
    message = _message()
    raw = message.as_bytes()  # type: ignore[attr-defined]
    assert message["Date"] and message["Message-ID"].endswith("@example.org>")  # type: ignore[index]
    assert b'charset="utf-8"' in raw
    assert "利用者情報登録完了のお知らせ" not in raw.decode("ascii")  # encoded for the wire
    assert message["Subject"] == "利用者情報登録完了のお知らせ"  # type: ignore[index]


def test_plain_smtp_delivers_the_message(plain_server: MailServer) -> None:
    SmtpMailer.from_url(plain_server.url()).send(_message())  # type: ignore[arg-type]
    received = plain_server.wait_for(1)
    assert received[0]["Subject"] == "利用者情報登録完了のお知らせ"
    assert "メールアドレスの確認" in received[0].get_content()


def test_smtp_auth_logs_in(auth_server: MailServer) -> None:
    SmtpMailer.from_url(auth_server.url()).send(_message())  # type: ignore[arg-type]
    assert len(auth_server.wait_for(1)) == 1


def test_wrong_smtp_password_is_a_mail_error_without_the_password(auth_server: MailServer) -> None:
    mailer = SmtpMailer.from_url(auth_server.url(password="wrong-password-value"))
    with pytest.raises(MailError) as caught:
        mailer.send(_message())  # type: ignore[arg-type]
    assert "535" in str(caught.value)
    assert "wrong-password-value" not in str(caught.value)
    assert auth_server.messages == []


def test_server_down_is_a_mail_error_without_the_password() -> None:
    with reserved_port() as port, pytest.raises(MailError) as caught:  # nobody listens there
        url = f"smtp://user:{SMTP_PASSWORD}@127.0.0.1:{port}"
        SmtpMailer.from_url(url).send(_message())  # type: ignore[arg-type]
    assert "127.0.0.1" in str(caught.value)
    assert SMTP_PASSWORD not in str(caught.value)


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtp"])
def test_starttls_upgrades_before_auth(
    tls_files: tuple[Path, Path], client_context: ssl.SSLContext, scheme: str
) -> None:
    server = MailServer(
        auth=True, tls_context=server_context(*tls_files), require_starttls=True
    ).start()
    try:
        url = server.url(scheme) + ("?starttls=1" if scheme == "smtp" else "")
        SmtpMailer.from_url(url, context=client_context).send(_message())  # type: ignore[arg-type]
        assert len(server.wait_for(1)) == 1
    finally:
        server.stop()


def test_smtps_speaks_tls_from_the_start(
    tls_files: tuple[Path, Path], client_context: ssl.SSLContext
) -> None:
    server = MailServer(auth=True, ssl_context=server_context(*tls_files)).start()
    try:
        SmtpMailer.from_url(server.url("smtps"), context=client_context).send(_message())  # type: ignore[arg-type]
        assert len(server.wait_for(1)) == 1
    finally:
        server.stop()


def test_untrusted_certificate_is_refused(tls_files: tuple[Path, Path]) -> None:
    server = MailServer(ssl_context=server_context(*tls_files)).start()
    try:
        with pytest.raises(MailError):
            SmtpMailer.from_url(server.url("smtps")).send(_message())  # type: ignore[arg-type]
        assert server.messages == []
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", SmtpSettings("mail.example.org", 25)),
        (
            "smtp://u:p%40ss@mail.example.org:2525",
            SmtpSettings("mail.example.org", 2525, "u", "p@ss"),
        ),
        ("smtp+starttls://mail.example.org", SmtpSettings("mail.example.org", 587, starttls=True)),
        (
            "smtp://mail.example.org?starttls=1",
            SmtpSettings("mail.example.org", 587, starttls=True),
        ),
        ("smtps://mail.example.org", SmtpSettings("mail.example.org", 465, implicit_tls=True)),
    ],
)
def test_smtp_urls_are_parsed(url: str, expected: SmtpSettings) -> None:
    assert SmtpSettings.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://u:topsecret@mail.example.org", "smtp://u:topsecret@", "smtp://u:topsecret@h:99999999"],
)
def test_bad_smtp_urls_are_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(MailError) as caught:
        SmtpSettings.from_url(url)
    assert "topsecret" not in str(caught.value)


def test_outbox_writes_whole_eml_files(tmp_path: Path) -> None:
    mailer = create_mailer(None, tmp_path / "outbox")
    assert isinstance(mailer, OutboxMailer)
    mailer.send(_message())  # type: ignore[arg-type]
    mailer.send(_message())  # type: ignore[arg-type]
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    raw = files[0].read_bytes()
    assert b"Subject: =?utf-8?" in raw
    # Readable in a text editor: the body is 8-bit UTF-8, links intact.
    assert "メールアドレスの確認をお願いします。".encode() in raw
    assert b"https://idp.example.org/x" in raw


def test_outbox_failure_is_a_mail_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MailError):
        OutboxMailer(blocker / "outbox").send(_message())  # type: ignore[arg-type]


def test_create_mailer_uses_smtp_when_configured(tmp_path: Path) -> None:
    assert isinstance(create_mailer("smtp://127.0.0.1:25", tmp_path), SmtpMailer)
