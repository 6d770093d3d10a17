"""One unit of work per request or command: only the faces commit or roll back.

A view request (:func:`idp.views.support.unavailable.run_view`), a CLI command, a SIP2 message and a
background job each commit once, at the end; services only add to the database
session. The few functions that need a transaction of their own — because their write
must be visible to other workers at once, or survive a refusal — are listed below with
the reason. This test reads ``idp/`` with :mod:`ast` and fails on a ``.commit()`` or
``.rollback()`` anywhere else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "idp"

#: Packages whose modules are faces: each command or view owns its transaction.
FACE_PACKAGES = ("idp.views.", "idp.cli.")

#: Single functions that are faces, or end a unit of work on a face's behalf.
FACES = {
    # The request face: commits once after the view answered; rolls back at teardown.
    "idp.views.support.unavailable.run_view",
    "idp.views.support.unavailable.discard_transaction",
    # The SIP2 face: one unit of work per message.
    "idp.sip2.database_directory.DatabaseDirectory._context",
    # Background jobs: the back-channel logout audit, the purge timer.
    "idp.services.backchannel.BackchannelNotifier._record",
    "idp.purger.PeriodicPurge.run_once",
}

#: Deliberate transactions of their own (the reason beside each).
OWN_TRANSACTION = {
    # A single-use claim (reissue links, card codes): the first claim must be visible
    # to every other worker at once.
    "idp.services.cards.replay.DatabaseReplayStore.claim",
    # The purge lease must be seen by the other workers at once; the purge deletes in
    # short batches so that it never holds the write lock for long.
    "idp.services.purge.take_lease",
    "idp.services.purge.purge",
    "idp.services.purge._delete_in_batches",
    # A large import keeps each stored batch (and reports it) as it goes.
    "idp.services.accounts.patron_import._store",
    # The browser session store: opened before, saved after the view's unit of work.
    "idp.views.support.sessions.ServerSessionInterface._open_record",
    "idp.views.support.sessions.ServerSessionInterface._save",
    # A SAML request ID is single use: the claim must be visible to every worker at once.
    "idp.saml.sso._remember_request_id",
    # A lost single-use claim of a code or refresh token: drops the token pair stored
    # by this request and commits the family's revocation at once (the fast path then
    # hands the request on to the full view, a unit of work of its own).
    "idp.oauth.claims.end_family_after_lost_claim",
    # A refused sign-in (locked, throttled, wrong password, passkey or second factor):
    # the failure it counts, the lock it causes and its audit line must stand even when
    # the request fails afterwards, and the next guess in any worker must see them.
    "idp.services.signin.core.refusal",
    # A staff TOTP step or recovery code is single use: the claim must be visible to
    # every worker at once, and committed before the sign-in core settles its counters
    # on a connection of its own (SQLite has one writer).
    "idp.services.staff.totp._claim",
}


def _qualified(module: str, stack: list[str]) -> str:
    return ".".join([module, *stack])


def _calls(path: Path) -> Iterator[tuple[str, int, str]]:
    module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    tree = ast.parse(path.read_text(), str(path))

    def walk(node: ast.AST, stack: list[str]) -> Iterator[tuple[str, int, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from walk(child, [*stack, child.name])
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in {"commit", "rollback"}
            ):
                yield _qualified(module, stack), child.lineno, child.func.attr
            yield from walk(child, stack)

    yield from walk(tree, [])


def _all_calls() -> list[tuple[str, int, str]]:
    return [c for path in sorted(ROOT.rglob("*.py")) for c in _calls(path)]


def _within(name: str, functions: set[str]) -> bool:
    """``name`` is one of ``functions`` or defined inside one (a nested helper)."""
    return any(name == f or name.startswith(f + ".") for f in functions)


def _allowed(name: str) -> bool:
    return name.startswith(FACE_PACKAGES) or _within(name, FACES | OWN_TRANSACTION)


def test_only_faces_commit_or_roll_back() -> None:
    offending = [
        f"{name}:{line} .{what}()" for name, line, what in _all_calls() if not _allowed(name)
    ]
    assert not offending, "commit/rollback outside a face:\n" + "\n".join(offending)


def test_the_allow_lists_name_functions_that_still_commit() -> None:
    found = [name for name, _, _ in _all_calls()]
    stale = {f for f in FACES | OWN_TRANSACTION if not _within_any(f, found)}
    assert not stale, f"no longer commits (remove from the list): {sorted(stale)}"


def _within_any(function: str, names: list[str]) -> bool:
    return any(_within(name, {function}) for name in names)


def test_the_scan_finds_a_commit_in_a_service(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("def f():\n    db.session.commit()\n")
    assert [what for *_, what in _calls_at(source, tmp_path)] == ["commit"]


def _calls_at(path: Path, root: Path) -> list[tuple[str, int, str]]:
    global ROOT
    saved, ROOT = ROOT, root / "idp"
    try:
        (root / "idp").mkdir(exist_ok=True)
        target = root / "idp" / path.name
        target.write_text(path.read_text())
        return list(_calls(target))
    finally:
        ROOT = saved
