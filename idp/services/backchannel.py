"""OpenID Connect Back-Channel Logout 1.0: logout tokens for the clients a session used.

When a browser session ends (RP-initiated logout, the logout button, a password change,
a counter reset, a status change), every client that received a code in that session
and registered a ``backchannel_logout_uri`` gets a signed Logout Token (§2.4) POSTed to
that URI (§2.5). The tokens are built in the request; the HTTP deliveries run in a small
thread pool with a short timeout and a few retries, so that the patron's logout never
waits on a slow client. Failures are logged (never with the token) and audited.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from typing import Any

from flask import Flask
from joserfc import jwt
from sqlalchemy import select

from idp.extensions import db
from idp.models.client import Client
from idp.models.patron import Patron
from idp.services import audit
from idp.services.accounts.subjects import subject_for
from idp.services.container import container
from idp.services.destinations import DestinationError
from idp.services.destinations import checked_session
from idp.services.destinations import private_allowed
from idp.services.keys import SIGNING_ALG
from idp.settings.sections import BackchannelSettings

log = logging.getLogger("idp.backchannel")

#: §2.4: "events … MUST contain a JSON object … with the member name
#: http://schemas.openid.net/event/backchannel-logout".
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4: "the typ header parameter … SHOULD be logout+jwt" (explicit typing, RFC 8725 §3.11).
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, not a secret
#: Finished deliveries kept for :meth:`BackchannelNotifier.drain` (bounded: production
#: never drains).
_KEEP_FINISHED = 1000


@dataclass(frozen=True)
class EndedSession:
    """What back-channel logout needs to know about a session that ended."""

    sid: str
    patron_id: int
    client_ids: tuple[str, ...]


@dataclass(frozen=True)
class Delivery:
    """One logout token for one client's back-channel URI."""

    client_id: str
    uri: str
    logout_token: str
    patron_id: int
    sid: str
    #: The client file allows a private address (or the installation does, in development).
    allow_private: bool = False

    def __repr__(self) -> str:
        # Never show the token (it could be replayed at the client until it expires).
        return f"<Delivery {self.client_id} sid={self.sid}>"


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery went: ``ok``, the attempts made and the last failure."""

    client_id: str
    sid: str
    ok: bool
    attempts: int
    failure: str | None = None


def ended_session(row: Any) -> EndedSession | None:
    """Describe a :class:`~idp.models.session.LoginSession` that is about to end.

    :return: None for a session nobody was signed in to.
    """
    if row is None or row.patron_id is None:
        return None
    return EndedSession(sid=row.sid, patron_id=row.patron_id, client_ids=tuple(row.clients or ()))


def logout_token(patron: Patron, client: Client, sid: str) -> str:
    """Build and sign a Logout Token (§2.4) for ``client``.

    :param sid: the session id the client saw in its ID token's ``sid`` claim.
    :return: the compact JWS.
    """
    config = container().config
    settings = container().settings
    key = container().keys.active_key()
    now = int(container().now().timestamp())
    claims = {
        "iss": settings.site.issuer,
        "aud": client.client_id,
        "iat": now,
        # §2.4: "it is RECOMMENDED that [exp] be … a short time in the future" (two minutes).
        "exp": now + settings.backchannel.logout_token_ttl,
        "jti": secrets.token_urlsafe(16),
        # The subject this client knows: public or pairwise (OIDC Core §8).
        "sub": subject_for(patron, client, config["SECRET_KEY"]),
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
        # §2.4: "A Logout Token MUST NOT contain a nonce Claim."
    }
    header = {"alg": SIGNING_ALG, "kid": str(key.kid), "typ": LOGOUT_TOKEN_TYPE}
    return jwt.encode(header, claims, key, algorithms=[SIGNING_ALG])


def deliveries_for(sessions: Iterable[EndedSession]) -> list[Delivery]:
    """The logout tokens to send for ``sessions``: one per session and client used.

    Clients without a ``backchannel_logout_uri`` (or disabled ones) are skipped.
    """
    out: list[Delivery] = []
    svc = container()
    development = bool(svc.config.get("TESTING") or svc.config.get("DEBUG"))
    everyone_private = private_allowed(svc.settings.backchannel.allow_private, development)
    for ended in sessions:
        if not ended.client_ids:
            continue
        patron = db.session.get(Patron, ended.patron_id)
        if patron is None:
            continue
        clients = db.session.scalars(
            select(Client).where(
                Client.client_id.in_(ended.client_ids),
                Client.backchannel_logout_uri.is_not(None),
                Client.is_enabled.is_(True),
            )
        )
        for client in sorted(clients, key=lambda c: c.client_id):
            if not client.backchannel_logout_uri:
                continue
            out.append(
                Delivery(
                    client_id=client.client_id,
                    uri=client.backchannel_logout_uri,
                    logout_token=logout_token(patron, client, ended.sid),
                    patron_id=patron.id,
                    sid=ended.sid,
                    allow_private=everyone_private or client.backchannel_logout_allow_private,
                )
            )
    return out


def notify_ended_sessions(sessions: Iterable[EndedSession | None]) -> list[Future[DeliveryResult]]:
    """Send logout tokens for ``sessions`` in the background.

    :return: one future per delivery (tests wait on them; requests do not).
    """
    deliveries = deliveries_for(s for s in sessions if s is not None)
    if not deliveries:
        return []
    try:
        return notifier().submit(deliveries)
    except RuntimeError:
        # The pool was shut down (the process is exiting): the logout itself goes on.
        log.warning("back-channel logout not sent: delivery pool is shut down")
        return []


def notifier() -> BackchannelNotifier:
    """The current application's notifier."""
    return container().backchannel


class BackchannelNotifier:
    """Delivers logout tokens from a thread pool, with a timeout and retries."""

    def __init__(self, app: Flask, settings: BackchannelSettings) -> None:
        self.app = app
        self.timeout = settings.timeout
        self.retries = max(0, settings.retries)
        self.backoff = max(0, settings.backoff_ms) / 1000
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, settings.workers),
            thread_name_prefix="idp-backchannel",
        )
        self._lock = threading.Lock()
        self._running: set[Future[DeliveryResult]] = set()
        self._finished: deque[Future[DeliveryResult]] = deque(maxlen=_KEEP_FINISHED)
        self._claimed: set[Future[DeliveryResult]] = set()

    def submit(self, deliveries: Iterable[Delivery]) -> list[Future[DeliveryResult]]:
        """Queue ``deliveries``; returns at once."""
        futures = []
        for delivery in deliveries:
            future = self._executor.submit(self._deliver, delivery)
            with self._lock:
                self._running.add(future)
            future.add_done_callback(self._finish)
            futures.append(future)
        return futures

    def drain(self, timeout: float | None = 30) -> list[DeliveryResult]:
        """Wait until every queued delivery has finished (tests, shutdown).

        :return: the results of the deliveries finished since the last drain.
        :raises TimeoutError: when some are still running after ``timeout`` seconds.
        """
        with self._lock:
            running = list(self._running)
        _done, not_done = wait(running, timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} back-channel deliveries still running")
        with self._lock:
            finished = list(self._finished)
            self._finished.clear()
            # wait() returns before a future's done callbacks have run: claim those here.
            late = [future for future in running if future in self._running]
            self._claimed.update(late)
        return [future.result() for future in [*finished, *late]]

    def shutdown(self) -> None:
        """Finish queued deliveries and stop the threads."""
        self._executor.shutdown(wait=True)

    def _finish(self, future: Future[DeliveryResult]) -> None:
        with self._lock:
            self._running.discard(future)
            if future in self._claimed:
                self._claimed.discard(future)
            else:
                self._finished.append(future)

    def _deliver(self, delivery: Delivery) -> DeliveryResult:
        attempts = 0
        failure: str | None = None
        while attempts <= self.retries:
            if attempts:
                time.sleep(self.backoff * 2 ** (attempts - 1))
            attempts += 1
            failure, retry = self._post(delivery)
            if failure is None or not retry:
                break
        result = DeliveryResult(
            delivery.client_id, delivery.sid, failure is None, attempts, failure
        )
        self._record(delivery, result)
        return result

    def _post(self, delivery: Delivery) -> tuple[str | None, bool]:
        """One attempt. :return: the failure (None on success) and whether to retry."""
        # Imported here: only a logout with back-channel clients posts (about 6 MB per process).
        import requests

        # The address connected to is checked again now (a name may resolve elsewhere
        # than at registration): a non-public one is refused, for good.
        session = checked_session(allow_private=delivery.allow_private)
        try:
            # §2.5: "The OP uses an HTTP POST to the registered back-channel logout URI
            # … using the application/x-www-form-urlencoded format."
            response = session.post(
                delivery.uri,
                data={"logout_token": delivery.logout_token},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except DestinationError:
            return "non-public address", False
        except requests.Timeout:
            return "timeout", True
        except requests.RequestException as exc:
            return exc.__class__.__name__, True
        finally:
            session.close()
        if 200 <= response.status_code < 300:
            return None, False
        # §2.8: a client answers 400 when it cannot log out; sending the same token
        # again will not change that. Server errors may be temporary.
        return f"HTTP {response.status_code}", response.status_code >= 500

    def _record(self, delivery: Delivery, result: DeliveryResult) -> None:
        if not result.ok:
            log.warning(
                "back-channel logout to client %s failed after %d attempt(s): %s",
                delivery.client_id,
                result.attempts,
                result.failure,
            )
        try:
            with self.app.app_context():
                audit.record(
                    "logout.backchannel" if result.ok else "logout.backchannel_failed",
                    patron_id=delivery.patron_id,
                    client_id=delivery.client_id,
                    sid=delivery.sid,
                    attempts=result.attempts,
                    failure=result.failure,
                )
                # This background job is the face of its own unit of work.
                db.session.commit()
        except Exception:  # the delivery already happened; a lost audit row must not hide it
            log.exception("could not audit back-channel logout to %s", delivery.client_id)
