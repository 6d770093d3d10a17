"""A real SMTP server on loopback for tests (aiosmtpd's ``Controller``)."""

from __future__ import annotations

import email
import time
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import LoginPassword
from aiosmtpd.smtp import Session

from tests.support.network import ReservedPort

SMTP_USER = "idp-mailer"
SMTP_PASSWORD = "smtp-pass-0123456789"


class _Session(Session):  # type: ignore[misc]
    # aiosmtpd 1.4 sets its own deprecated ``login_data`` on every successful AUTH, which
    # warns (an error under filterwarnings=error, in the server's thread): keep it quiet.
    login_data = None


class _SMTP(SMTP):  # type: ignore[misc]
    def _create_session(self) -> Session:
        return _Session(self.loop)


class _Controller(Controller):  # type: ignore[misc]
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


class MailServer:
    """Collects every message it receives; ``url`` is an ``IDP_SMTP_URL`` for it."""

    def __init__(self, *, auth: bool = False, **tls: Any) -> None:
        self.messages: list[EmailMessage] = []
        # Held until stop(): aiosmtpd binds it (with SO_REUSEADDR) once started.
        self._reservation = ReservedPort()
        self.port = self._reservation.port
        options: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port, **tls}
        if auth:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        self.auth = auth
        self.controller = _Controller(self, **options)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def url(self, scheme: str = "smtp", password: str = SMTP_PASSWORD) -> str:
        credentials = f"{SMTP_USER}:{password}@" if self.auth else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"

    def start(self) -> MailServer:
        try:
            self.controller.start()
        except BaseException:
            self._reservation.close()
            raise
        self.running = True
        return self

    def stop(self) -> None:
        """Stop the server (a stopped server cannot be started again)."""
        if getattr(self, "running", False):
            self.controller.stop()
            self.running = False
        self._reservation.close()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:
        """The messages, once at least ``count`` arrived (background senders)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)


def link_in(message: EmailMessage) -> str:
    """The first http(s) link in a plain-text mail body."""
    body = message.get_content()
    for word in body.split():
        if word.startswith(("http://", "https://")):
            return str(word)
    raise AssertionError(f"no link in: {body}")
