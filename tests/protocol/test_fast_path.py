"""The WSGI fast path answers the common successes of /authorize (a signed-in browser),
/token, /userinfo and /introspect; anything else reaches Flask and Authlib with the
request intact.

Every other test of this folder runs with and without the fast path (conftest), so the
answers are the same either way; these tests show which path answered.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models.token import Token
from idp.settings import app_settings
from idp.views.support.fast import fast_path_of
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD


class Watch:
    """Tells whether the last request was answered by the fast path."""

    def __init__(self, browser: Any) -> None:
        path = fast_path_of(browser.application)
        assert path is not None
        self.path = path
        self.seen = path.answered

    def __call__(self, response: TestResponse) -> bool:
        answered = self.path.answered > self.seen
        self.seen = self.path.answered
        return answered


def _basic() -> dict[str, str]:
    raw = f"portal:{PORTAL_SECRET}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_the_common_successes_take_the_fast_path_when_it_is_on(
    rp: Any, patron: Any, token_path: str
) -> None:
    on = token_path == "fast_path"
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    _fast = Watch(rp.browser)
    authorized = rp.authorize(scope="openid offline_access")
    assert authorized.status_code == 302 and _fast(authorized) is on
    assert authorized.headers["Cache-Control"] == "no-store"
    assert authorized.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in authorized.headers["Content-Security-Policy"]
    code = rp.code_from(authorized)
    exchange = rp.exchange(code)
    assert exchange.status_code == 200 and _fast(exchange) is on
    tokens = exchange.get_json()
    rp.verify_id_token(tokens["id_token"], app_settings(rp.browser.application).site.issuer)

    userinfo = rp.browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200 and _fast(userinfo) is on
    assert userinfo.headers["Cache-Control"] == "no-store"
    assert userinfo.headers["X-Request-ID"]

    introspection = rp.browser.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
    )
    assert introspection.get_json()["active"] is True and _fast(introspection) is on

    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200 and _fast(refreshed) is on
    assert refreshed.get_json()["refresh_token"] != tokens["refresh_token"]


def test_errors_and_unusual_requests_reach_authlib(rp: Any, patron: Any, token_path: str) -> None:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    _fast = Watch(rp.browser)
    wrong = rp.exchange(code, code_verifier="x" * 43)
    assert wrong.get_json()["error"] == "invalid_grant" and not _fast(wrong)
    tokens = rp.exchange(code).get_json()  # the failed attempt did not spend the code
    _fast(rp.browser)

    narrower = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid"}
    )
    assert narrower.status_code == 200 and not _fast(narrower)  # body handed on intact

    bad_secret = rp.refresh(tokens["refresh_token"] + "x")
    assert bad_secret.get_json()["error"] == "invalid_grant" and not _fast(bad_secret)

    no_token = rp.browser.get("/userinfo")
    assert no_token.status_code == 401 and not _fast(no_token)


def test_unusual_authorization_requests_reach_the_view(
    rp: Any, patron: Any, token_path: str
) -> None:
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    _fast = Watch(rp.browser)
    for extra in ({"prompt": "login"}, {"max_age": "0"}, {"code_challenge_method": "plain"}):
        answer = rp.authorize(**extra)
        assert answer.status_code in (302, 400) and not _fast(answer)
    first = rp.authorize()
    rp.code_from(first)
    _fast(first)
    replayed = rp.browser.get("/authorize", query_string=rp.authorize_params())
    assert not _fast(replayed)  # the nonce was seen: Authlib answers the error
    assert "error=invalid_request" in replayed.headers["Location"]
    rp.browser.delete_cookie("idp_session")
    anonymous = rp.authorize()
    assert "/login" in anonymous.headers["Location"] and not _fast(anonymous)


def test_authorize_keeps_the_session_record_as_the_view_does(
    rp: Any, patron: Any, clock: Any, app: Any, token_path: str
) -> None:
    """A client new to the session joins its client list (back-channel logout reaches
    it) and ``last_seen_at`` is written once a minute, on either path."""
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models.session import LoginSession
    from tests.support.factories import make_client
    from tests.support.oidc import RelyingParty

    with app.app_context():
        other = make_client("desk-portal")
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    clock.advance(seconds=61)
    second = RelyingParty.for_client(rp.browser, other, "portal-secret-0123456789-abcdefghijklmnop")
    _fast = Watch(rp.browser)
    answer = second.authorize()
    assert second.code_from(answer) and _fast(answer) is (token_path == "fast_path")
    with app.app_context():
        row = db.session.scalar(select(LoginSession).where(LoginSession.patron_id == patron.id))
        assert row is not None
        assert row.clients == ["portal", "desk-portal"]
        assert row.last_seen_at == clock()


def test_a_claim_lost_on_the_fast_path_keeps_nothing_and_hands_the_request_on(
    rp: Any, patron: Any, token_path: str, monkeypatch: Any
) -> None:
    """Another redemption winning between the fast path's read and its claim: the fast
    path's redemption writes nothing — no token pair, no audit row (on PostgreSQL all
    three are one statement) — and the application answers. Here the other redemption
    is undone before the application looks, so Authlib redeems the code: one pair in
    all."""
    if token_path != "fast_path":
        pytest.skip("the fast path's own claim")
    from sqlalchemy import func
    from sqlalchemy import update

    from idp.models.audit import AuditEvent
    from idp.models.authorization_code import AuthorizationCode
    from idp.oauth import claims as claim_rules
    from idp.services.container import container
    from idp.views.support import fast_tokens

    lost: list[tuple[bool, int, int]] = []

    def used(when: Any) -> None:
        with db.engine.begin() as other:
            other.execute(update(AuthorizationCode).values(used_at=when))

    def redeem_after_another(connection: Any, code_id: int, *args: Any) -> bool:
        used(container().now())
        won = claim_rules.redeem_code(connection, code_id, *args)
        pairs = connection.scalar(select(func.count()).select_from(Token))
        issued = connection.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "token.issued")
        )
        lost.append((won, pairs, issued))
        return won

    def undone_then_ended(*args: Any) -> None:
        # After the fast path's rollback: on SQLite its claim held the write lock.
        used(None)
        end_family(*args)

    end_family = fast_tokens.end_family_after_lost_claim
    monkeypatch.setattr(fast_tokens, "redeem_code", redeem_after_another)
    monkeypatch.setattr(fast_tokens, "end_family_after_lost_claim", undone_then_ended)
    rp.sign_in(patron.card_number, DEFAULT_PASSWORD)
    code = rp.code_from(rp.authorize())
    _fast = Watch(rp.browser)
    exchange = rp.exchange(code)
    assert exchange.status_code == 200 and _fast(exchange) is False
    assert lost == [(False, 0, 0)]
    rows = db.session.scalars(select(Token)).all()
    assert len(rows) == 1 and rows[0].revoked_at is None
    access = exchange.get_json()["access_token"]
    userinfo = rp.browser.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert userinfo.status_code == 200


def test_the_fast_path_logs_an_issue_once_it_is_committed_and_the_write_lock_is_free(
    rp: Any, patron: Any, token_path: str
) -> None:
    """The audit line of a code or a token pair issued on the fast path is written after
    the commit, with SQLite's write lock let go: the next writer is not held back by
    this request's logging."""
    if token_path != "fast_path":
        pytest.skip("the fast path's own ordering (the view logs inside its unit of work)")
    import logging

    from sqlalchemy import func

    from idp.models.audit import AuditEvent

    engine = db.engine
    sqlite = engine.dialect.name == "sqlite"
    seen: list[tuple[str, int, bool | None]] = []

    class Check(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event = str(record.args[0]) if record.args else ""  # type: ignore[index]
            if event not in ("code.issued", "token.issued"):
                return
            with engine.connect() as other:
                stored = other.scalar(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event)
                )
            seen.append((event, int(stored or 0), _write_lock_is_free(engine) if sqlite else None))

    handler = Check()
    audit_log = logging.getLogger("idp.audit")
    audit_log.addHandler(handler)
    level = audit_log.level
    audit_log.setLevel(logging.INFO)
    try:
        rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
        _fast = Watch(rp.browser)
        authorized = rp.authorize(scope="openid offline_access")
        assert _fast(authorized)
        exchange = rp.exchange(rp.code_from(authorized))
        assert exchange.status_code == 200 and _fast(exchange)
        refreshed = rp.refresh(exchange.get_json()["refresh_token"])
        assert refreshed.status_code == 200 and _fast(refreshed)
    finally:
        audit_log.removeHandler(handler)
        audit_log.setLevel(level)
    fast = seen[-3:]
    assert [event for event, _, _ in fast] == ["code.issued", "token.issued", "token.issued"]
    # Each line came after its row was committed (the sign-in issued one code before).
    assert [stored for _, stored, _ in fast] == [2, 1, 2]
    if sqlite:
        assert all(free for _, _, free in fast)


def _write_lock_is_free(engine: Any) -> bool:
    """Whether another process could take SQLite's write lock now
    (:mod:`idp.sqlite_writes`)."""
    import fcntl
    import os

    fd = os.open(engine.url.database + ".write-lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_thread_keeps_its_connection_and_sees_every_change_at_once(
    rp: Any, patron: Any, token_path: str
) -> None:
    """The fast path's requests run on the thread's own connection, kept between them
    (no pool checkout per request) until a request the application answers gives it
    back. It holds no transaction, nor SQLite's write lock, between requests: a
    revocation made on another connection is seen by the very next request, and a
    write is committed and the lock let go before the answer. A connection that went
    bad is not kept: the next request takes a fresh one."""
    if token_path != "fast_path":
        pytest.skip("the fast path's own reads")
    from sqlalchemy import event
    from sqlalchemy import update

    rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    tokens = rp.exchange(rp.code_from(rp.authorize(scope="openid offline_access"))).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    _fast = Watch(rp.browser)
    assert rp.browser.get("/userinfo", headers=bearer).status_code == 200
    checkouts: list[object] = []

    def count(*args: object) -> None:
        checkouts.append(args)

    engine = db.engine
    event.listen(engine, "checkout", count)
    try:
        for _ in range(3):
            answer = rp.browser.get("/userinfo", headers=bearer)
            assert answer.status_code == 200 and _fast(answer)
            answer = rp.browser.post(
                "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
            )
            assert answer.get_json()["active"] is True and _fast(answer)
        assert checkouts == []

        with engine.begin() as other:
            other.execute(update(Token).values(revoked_at=Token.issued_at))
        assert rp.browser.get("/userinfo", headers=bearer).status_code == 401
        introspected = rp.browser.post(
            "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
        )
        assert introspected.get_json() == {"active": False}

        path = fast_path_of(rp.browser.application)
        assert path is not None
        kept = path._kept.connection
        kept.invalidate()
        with engine.begin() as other:
            other.execute(update(Token).values(revoked_at=None))
        answer = rp.browser.get("/userinfo", headers=bearer)
        assert answer.status_code == 200 and _fast(answer)
        fresh = path._kept.connection
        assert fresh is not kept and not fresh.invalidated

        # A refresh writes on it too, and leaves it with nothing held.
        before = len(checkouts)
        refreshed = rp.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200 and _fast(refreshed)
        assert path._kept.connection is fresh and not fresh.in_transaction()
        assert len(checkouts) == before
        if engine.dialect.name == "sqlite":
            assert _write_lock_is_free(engine)

        # A request the application answers gives it back to the pool first.
        assert rp.browser.get("/healthz").status_code == 200
        assert path._kept.connection is None
    finally:
        event.remove(engine, "checkout", count)
