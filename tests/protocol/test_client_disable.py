"""Disabling a client: ``enabled = false`` in its file, ``idp clients disable|enable``,
``idp clients sync --prune``; its codes and tokens stop working on the next request,
in every process that serves the database."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from idp import create_app
from idp.extensions import db
from idp.models.client import Client
from tests.conftest import PORTAL_SECRET
from tests.support.factories import DEFAULT_PASSWORD


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic() -> dict[str, str]:
    raw = f"portal:{PORTAL_SECRET}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _offline(rp: Any, patron: Any) -> dict[str, Any]:
    code = rp.sign_in(patron.card_number, DEFAULT_PASSWORD, scope="openid offline_access")
    body: dict[str, Any] = rp.exchange(code).get_json()
    return body


def _client(client_id: str) -> Client | None:
    db.session.expire_all()
    found: Client | None = db.session.scalar(db.select(Client).where(Client.client_id == client_id))
    return found


def test_a_disabled_clients_tokens_and_codes_stop_working_at_once(
    rp: Any, patron: Any, runner: FlaskCliRunner
) -> None:
    tokens = _offline(rp, patron)
    code = rp.code_from(rp.authorize())  # the session is live: a code without a login
    assert rp.browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200

    result = runner.invoke(args=["clients", "disable", "portal"])

    assert result.exit_code == 0 and "Client portal disabled." in result.output
    assert rp.browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
    assert rp.refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_client"
    assert rp.exchange(code).get_json()["error"] == "invalid_client"
    introspection = rp.browser.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
    )
    assert introspection.status_code == 401
    # Enabling it again does not revive what disabling ended.
    assert runner.invoke(args=["clients", "enable", "portal"]).exit_code == 0
    assert rp.browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
    assert rp.browser.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=_basic()
    ).get_json() == {"active": False}


def test_a_disabled_client_is_refused_by_another_process_on_the_next_request(
    app: Flask, app_config: dict[str, Any], rp: Any, patron: Any, runner: FlaskCliRunner
) -> None:
    tokens = _offline(rp, patron)
    other = create_app(app_config)  # a second node (or worker) on the same database
    try:
        browser = other.test_client()
        assert browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200

        runner.invoke(args=["clients", "disable", "portal"])

        assert browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
        refused = browser.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=_basic(),
        )
        assert refused.get_json()["error"] == "invalid_client"
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_unknown_client_is_an_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["clients", "disable", "nobody"])
    assert result.exit_code != 0 and "no client 'nobody'" in result.output


def _file(folder: Path, client_id: str, extra: str = "") -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{client_id}.toml").write_text(
        f'client_id = "{client_id}"\nclient_secret_hash = "sha256:{"0" * 64}"\n'
        f'redirect_uris = ["https://{client_id}.example.org/cb"]\nscopes = ["openid"]\n{extra}',
        encoding="utf-8",
    )


def test_sync_keeps_a_file_that_says_enabled_false_disabled(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "clients"
    _file(folder, "kiosk", "enabled = false\n")
    runner.invoke(args=["clients", "sync", str(folder)])
    assert (kiosk := _client("kiosk")) is not None and kiosk.is_enabled is False

    runner.invoke(args=["clients", "sync", str(folder)])  # again: still disabled
    assert (kiosk := _client("kiosk")) is not None and kiosk.is_enabled is False

    _file(folder, "kiosk")  # the key removed: enabled again
    runner.invoke(args=["clients", "sync", str(folder)])
    assert (kiosk := _client("kiosk")) is not None and kiosk.is_enabled is True


def test_enabled_must_be_a_boolean(runner: FlaskCliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "clients"
    _file(folder, "kiosk", 'enabled = "no"\n')
    result = runner.invoke(args=["clients", "sync", str(folder)])
    assert result.exit_code != 0 and "kiosk.toml: enabled must be true or false" in result.output


@pytest.mark.parametrize("prune", [False, True])
def test_sync_prune_disables_the_clients_without_a_file(
    rp: Any, patron: Any, runner: FlaskCliRunner, tmp_path: Path, prune: bool
) -> None:
    tokens = _offline(rp, patron)  # issued to "portal", which has no file below
    folder = tmp_path / "clients"
    _file(folder, "kiosk")

    args = ["clients", "sync", str(folder)] + (["--prune"] if prune else [])
    result = runner.invoke(args=args)

    assert result.exit_code == 0, result.output
    portal = _client("portal")
    assert portal is not None and portal.is_enabled is (not prune)
    if prune:
        assert "disabled (no file): portal" in result.output
    else:
        assert "disabled" not in result.output
    status = rp.browser.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code
    assert status == (401 if prune else 200)
    assert (kiosk := _client("kiosk")) is not None and kiosk.is_enabled


def test_a_changed_secret_is_seen_by_another_process_on_the_next_request(
    app: Flask, app_config: dict[str, Any], rp: Any, patron: Any, runner: FlaskCliRunner
) -> None:
    """The in-process client registry of a process that already served the client is
    checked against the registration's version on every request."""
    tokens = _offline(rp, patron)
    other = create_app(app_config)
    try:
        browser = other.test_client()
        first = browser.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=_basic(),
        )
        assert first.status_code == 200  # the registration is now cached in `other`
        portal = _client("portal")
        assert portal is not None
        before = portal.version
        portal.client_secret_hash = "sha256:" + "0" * 64
        db.session.commit()
        assert (changed := _client("portal")) is not None and changed.version == before + 1

        refused = browser.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.get_json()["refresh_token"],
            },
            headers=_basic(),
        )
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "invalid_client"
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
