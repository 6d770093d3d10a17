"""The sign-in core owns every patron password check, its outcome texts and its audit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask

from idp.services.signin import SignInOutcome
from idp.services.signin import Source
from idp.services.signin import check_secret
from idp.services.signin import limiter
from idp.services.signin import message_for
from idp.services.signin.outcomes import AUDIT_EVENTS

ROOT = Path(__file__).resolve().parents[2] / "idp"
CORE = ROOT / "services" / "signin"


def _sources_outside_the_core() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for path in ROOT.rglob("*.py")
        if CORE not in path.parents
    }


def test_no_module_outside_the_core_verifies_a_patron_password() -> None:
    calls = {
        str(path.relative_to(ROOT))
        for path, text in _sources_outside_the_core().items()
        if re.search(r"passwords\.verify\(", text)
    }
    assert calls == set()
    # The staff console's own accounts are checked by the core too.
    assert "check_password(" in (ROOT / "services" / "staff" / "auth.py").read_text("utf-8")


def test_no_module_outside_the_core_writes_a_sign_in_audit_line() -> None:
    events = set(AUDIT_EVENTS.values()) | {"patron.locked", "password.change_failed"}
    pattern = re.compile(r"audit\.record\(\s*\"(" + "|".join(map(re.escape, events)) + r")\"")
    writers = {
        str(path.relative_to(ROOT))
        for path, text in _sources_outside_the_core().items()
        if pattern.search(text)
    }
    assert writers == set()


def test_every_outcome_has_an_audit_event_and_a_text_in_both_languages(app: Flask) -> None:
    from flask_babel import force_locale

    assert set(AUDIT_EVENTS) == set(SignInOutcome)
    with app.test_request_context():
        for outcome in SignInOutcome:
            if outcome is SignInOutcome.OK:
                continue
            with force_locale("en"):
                english = message_for(outcome, retry_after=90)
            with force_locale("ja"):
                japanese = message_for(outcome, retry_after=90)
            assert english and japanese and english != japanese, outcome


def test_another_subject_kind_gets_counters_of_its_own(app: Flask) -> None:
    source = Source(ip="192.0.2.77")
    answers = [
        check_secret("staff", "librarian", lambda: False, source=source).is_right for _ in range(6)
    ]
    assert answers == [False] * 5 + [None]  # the per-card rule: 5 free failures
    assert limiter().count("staff", "librarian") == 5
    assert limiter().count("card", "librarian") == 0
    # A card checked from another address is not delayed by the staff account.
    other = check_secret("card", "0300000001", lambda: True, source=Source(ip="203.0.113.7"))
    assert other.is_right is True


def _events(patron_id: int) -> list[str]:
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models.audit import AuditEvent

    rows = db.session.scalars(
        select(AuditEvent.event).where(AuditEvent.patron_id == patron_id).order_by(AuditEvent.id)
    )
    return list(rows)


def test_a_refused_guess_stands_when_the_face_rolls_back(app: Flask, patron: Any) -> None:
    from idp.extensions import db
    from idp.models.card_failure import CardFailure
    from idp.services.signin import check_patron

    result = check_patron(patron.card_number, "wrong-guess", channel="web", source=Source())
    assert result.outcome is SignInOutcome.INVALID_CREDENTIALS
    db.session.rollback()  # the request failed after the check
    failure = db.session.get(CardFailure, patron.card_number)
    assert failure is not None and failure.count == 1
    assert _events(patron.id) == [AUDIT_EVENTS[SignInOutcome.INVALID_CREDENTIALS]]


def test_a_right_password_leaves_its_writes_to_the_face(app: Flask, patron: Any) -> None:
    from idp.extensions import db
    from idp.models.patron import Patron
    from idp.services.signin import check_patron
    from tests.support.factories import DEFAULT_PASSWORD

    result = check_patron(patron.card_number, DEFAULT_PASSWORD, channel="web", source=Source())
    assert result.outcome is SignInOutcome.OK
    db.session.rollback()  # the request failed after the check: nothing of it is kept
    fresh = db.session.get(Patron, patron.id)
    assert fresh is not None and fresh.last_login_at is None
    assert _events(patron.id) == []
