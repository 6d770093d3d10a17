"""Outgoing mail: SMTP when configured, otherwise ``.eml`` files in an outbox folder.

``IDP_SMTP_URL`` names the server: ``smtp://user:pass@host:587`` (plain, or STARTTLS
with ``smtp+starttls://`` or ``?starttls=1``) or ``smtps://…`` (TLS from the start).
Without it every message is written to ``instance/outbox/`` (SPEC §8: the embedded
default needs no other service). Errors are :class:`MailError`, whose text never holds
the SMTP password.
"""

from __future__ import annotations

import copy
import email.utils
import logging
import os
import secrets
import smtplib
import ssl
import tempfile
import time
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

#: Seconds to wait for the SMTP server before giving up.
SMTP_TIMEOUT = 10.0
_TRUE = {"1", "true", "yes", "on"}


class MailError(RuntimeError):
    """A message could not be sent; the text is safe to log (no password)."""


class Mailer(Protocol):
    """Something that sends a message."""

    def send(self, message: EmailMessage) -> None:
        """Send ``message``.

        :raises MailError: when it could not be sent.
        """


def build_message(*, to: str, subject: str, body: str, from_addr: str) -> EmailMessage:
    """A plain-text UTF-8 message with ``Date`` and ``Message-ID``.

    Headers are encoded (RFC 2047) and the body is base64, so it passes any relay.
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = from_addr
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    domain = from_addr.rpartition("@")[2].strip("> ") or "localhost"
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    # base64 keeps the message 7-bit clean for any relay (Japanese text is not ASCII).
    message.set_content(body, charset="utf-8", cte="base64")
    return message


class OutboxMailer:
    """Writes each message to ``folder`` as an ``.eml`` file (the embedded default)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> None:
        """Write ``message`` atomically: a reader never sees half a file.

        A plain-text body is written as 8-bit UTF-8, so that the file can be read (and
        its links copied) in a text editor as well as opened in a mail program.
        """
        if not message.is_multipart():
            readable = copy.deepcopy(message)
            readable.set_content(message.get_content(), charset="utf-8", cte="8bit")
            message = readable
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Sortable by time, unique without coordination between processes.
            name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(6)}"
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            os.replace(temporary, self.folder / f"{name}.eml")
        except OSError as exc:
            raise MailError(f"could not write to the outbox {self.folder}: {exc}") from None


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server, parsed from ``IDP_SMTP_URL``."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Parse ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs.

        :raises MailError: for another scheme or a missing host (the URL is not echoed).
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"smtp", "smtp+starttls", "smtps"} or not parts.hostname:
            raise MailError(
                "IDP_SMTP_URL must be smtp://, smtp+starttls:// or smtps:// with a host"
            )
        query = parse_qs(parts.query)
        starttls = scheme == "smtp+starttls" or (query.get("starttls", ["0"])[0].lower() in _TRUE)
        try:
            port = parts.port
        except ValueError:
            raise MailError("IDP_SMTP_URL has an invalid port") from None
        return cls(
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 587 if starttls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=scheme == "smtps",
            starttls=starttls,
        )


class SmtpMailer:
    """Sends over SMTP, one connection per message (mail is rare here)."""

    def __init__(self, settings: SmtpSettings, *, context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._context = context

    @classmethod
    def from_url(cls, url: str, *, context: ssl.SSLContext | None = None) -> SmtpMailer:
        """A mailer for ``IDP_SMTP_URL``; ``context`` overrides the default TLS checks."""
        return cls(SmtpSettings.from_url(url), context=context)

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``.

        :raises MailError: on any connection, TLS, authentication or SMTP error.
        """
        cfg = self.settings
        context = self._context or ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if cfg.implicit_tls:
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=SMTP_TIMEOUT, context=context)
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=SMTP_TIMEOUT)
            with smtp:
                if cfg.starttls:
                    smtp.starttls(context=context)
                if cfg.username is not None:
                    smtp.login(cfg.username, cfg.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(self._describe(exc)) from None

    def _describe(self, exc: BaseException) -> str:
        text = f"could not send mail via {self.settings.host}:{self.settings.port}: "
        text += f"{type(exc).__name__}: {exc}"
        # A server may echo what it was sent; never let the password reach a log.
        if self.settings.password:
            text = text.replace(self.settings.password, "***")
        return text


class BackgroundMailer:
    """Hands messages to a worker thread, so that the request does not wait for SMTP.

    Used where the time an answer takes must not tell anything (password re-issue:
    a mail is sent only for a matching card and address). Failures are logged.
    """

    def __init__(self, mailer: Mailer, *, workers: int = 2) -> None:
        self.mailer = mailer
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail")
        self._pending: set[Future[None]] = set()

    def send(self, message: EmailMessage) -> None:
        """Queue ``message``; never raises for a delivery failure."""
        self._pending = {f for f in self._pending if not f.done()}
        future = self._executor.submit(self._deliver, message)
        self._pending.add(future)

    def _deliver(self, message: EmailMessage) -> None:
        try:
            self.mailer.send(message)
        except MailError as exc:
            log.warning("background mail not sent: %s", exc)

    def join(self, timeout: float = SMTP_TIMEOUT * 2) -> None:
        """Wait until every queued message was handled (tests, shutdown)."""
        wait(set(self._pending), timeout=timeout)


def create_mailer(smtp_url: str | None, outbox_dir: Path | str) -> Mailer:
    """The configured mailer: SMTP when ``smtp_url`` is set, else the outbox folder."""
    if smtp_url:
        return SmtpMailer.from_url(smtp_url)
    return OutboxMailer(outbox_dir)
