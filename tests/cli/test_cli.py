"""The ``idp`` command: issue, import, clients sync, keys, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskCliRunner

from idp.extensions import db
from idp.models.client import Client
from idp.models.patron import Patron
from idp.services.clients import load_client_files
from idp.services.container import container
from idp.settings import app_settings
from tests.support.factories import change_settings


def _patron(card: str) -> Patron | None:
    return db.session.scalar(db.select(Patron).where(Patron.card_number == card))


def test_issue_prints_a_temporary_password_once(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["patrons", "issue", "--card", "0300000100", "--expires", "2028-11-30", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["card_number"] == "0300000100"
    assert data["expires_on"] == "2028-11-30"
    assert len(data["temporary_password"]) == 8 and data["temporary_password"].isdigit()
    patron = _patron("0300000100")
    assert patron is not None and patron.is_temporary_password
    assert data["temporary_password"] not in patron.password_hash
    assert container().passwords.verify(patron.password_hash, data["temporary_password"])


def test_issue_refuses_a_duplicate_or_malformed_card(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["patrons", "issue", "--card", "0300000100", "--expires", "2028-11-30"])
    again = runner.invoke(
        args=["patrons", "issue", "--card", "0300000100", "--expires", "2028-11-30"]
    )
    assert again.exit_code != 0 and "already issued" in again.output
    bad = runner.invoke(args=["patrons", "issue", "--card", "12ab", "--expires", "2028-11-30"])
    assert bad.exit_code != 0 and "pattern" in bad.output
    date = runner.invoke(args=["patrons", "issue", "--card", "0300000101", "--expires", "soon"])
    assert date.exit_code != 0 and "YYYY-MM-DD" in date.output


CSV = """card_number,password,temporary,expires_on,name,email
0300000201,oldpass99,false,2028-11-30,山田 一郎,ichiro@example.org
0300000202,,true,2028-11-30,山田 二郎,
０３００－０００－２０３,kari1234,true,2029-01-31,,
12345,pw,false,2028-11-30,,
0300000205,pw,maybe,2028-11-30,,
0300000206,pw,false,2028-13-01,,
0300000207,pw,false,2028-11-30,,not-an-email
0300000201,again,false,2028-11-30,,
"""


def test_import_validates_rows_and_is_idempotent(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "patrons.csv"
    path.write_text(CSV, encoding="utf-8")

    first = runner.invoke(args=["patrons", "import", str(path)])

    assert "Created 3, unchanged 0, errors 5." in first.output
    for line, reason in [
        (5, "pattern"),
        (6, "temporary must be true or false"),
        (7, "expires_on"),
        (8, "email"),
        (9, "appears twice"),
    ]:
        assert f"line {line}: " in first.output and reason in first.output
    moved = _patron("0300000201")
    assert moved is not None and not moved.is_temporary_password
    assert container().passwords.verify(moved.password_hash, "oldpass99")
    generated = _patron("0300000202")
    assert generated is not None and generated.is_temporary_password
    assert "0300000202\t" in first.output  # the generated password, for the notice
    normalised = _patron("0300000203")
    assert normalised is not None and normalised.is_temporary_password

    second = runner.invoke(args=["patrons", "import", str(path)])
    assert "Created 0, unchanged 3, errors 5." in second.output
    assert db.session.scalar(db.select(db.func.count(Patron.id))) == 3


def test_import_reports_missing_columns(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name\nX\n", encoding="utf-8")
    result = runner.invoke(args=["patrons", "import", str(path)])
    assert result.exit_code != 0
    assert "missing columns: card_number, expires_on" in result.output


def _client_file(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(body, encoding="utf-8")


def test_clients_sync_creates_and_updates(
    runner: FlaskCliRunner, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("KIOSK_SECRET", "k" * 40)
    folder = tmp_path / "clients"
    _client_file(
        folder,
        "kiosk",
        'client_id = "kiosk"\nname = "Kiosk"\nclient_secret_env = "KIOSK_SECRET"\n'
        'redirect_uris = ["https://kiosk.example.org/cb"]\nscopes = ["openid"]\n',
    )
    result = runner.invoke(args=["clients", "sync", str(folder)])
    assert "created: kiosk" in result.output, result.output
    client = db.session.scalar(db.select(Client).where(Client.client_id == "kiosk"))
    assert client is not None and client.check_client_secret("k" * 40)
    assert client.grant_types == ["authorization_code"]
    result = runner.invoke(args=["clients", "sync", str(folder)])
    assert "updated: kiosk" in result.output


def test_clients_sync_reports_the_bad_file_and_key(runner: FlaskCliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "clients"
    _client_file(
        folder,
        "evil",
        'client_id = "evil"\nclient_secret_hash = "sha256:' + "0" * 64 + '"\n'
        'redirect_uris = ["http://evil.example.org/cb"]\nscopes = ["openid"]\n',
    )
    result = runner.invoke(args=["clients", "sync", str(folder)])
    assert result.exit_code != 0
    assert "evil.toml: redirect_uris" in result.output and "https" in result.output


def test_shipped_client_files_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "clients"
    env = {
        "MYLIBRARY_CLIENT_SECRET": "m" * 40,
        "DLIBRARY_CLIENT_SECRET": "d" * 40,
        "CIRCULATION_DESK_CLIENT_SECRET": "c" * 40,
        "PORTAL_CLIENT_SECRET": "p" * 40,
        "SIP2_CLIENT_SECRET": "s" * 40,
        "EBOOK_VENDOR_API_CLIENT_SECRET": "e" * 40,
    }
    specs = {spec.client_id: spec for spec in load_client_files(root, env)}
    assert specs["mylibrary"].temporary_password_policy == "change"
    assert specs["mylibrary"].is_first_party and specs["mylibrary"].subject_type == "public"
    assert specs["d-library"].temporary_password_policy == "deny"
    assert not specs["d-library"].is_first_party
    assert specs["d-library"].subject_type == "pairwise"
    # The credential-check API client: machine-only, never a code or a patron token.
    api = specs["ebook-vendor-api"]
    assert api.grant_types == ["client_credentials"] and api.redirect_uris == []
    assert "patron:authenticate" in api.scopes and api.subject_type == "pairwise"


def test_keys_rotate_keeps_the_old_public_key(runner: FlaskCliRunner, app: Any) -> None:
    # A private copy of the keys: rotation must not touch the session's shared test keys.
    import shutil

    from idp.services.keys import KeyStore

    folder = Path(app_settings(app).site.instance_dir) / "keys"
    shutil.copytree(container().keys.folder, folder)
    container().keys = KeyStore(folder)
    old = container().keys.active_key().kid
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0
    new = result.output.split(":")[-1].strip()
    listed = runner.invoke(args=["keys", "list"]).output
    assert f"{new}  active" in listed and f"{old}  published" in listed
    retired = runner.invoke(args=["keys", "retire", new])
    assert retired.exit_code != 0 and "active key cannot be retired" in retired.output


def test_demo_loads_the_seed_patron_and_both_clients(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "0300000000 / 12345678" in result.output
    patron = _patron("0300000000")
    assert patron is not None and patron.is_temporary_password
    assert patron.expires_on.isoformat() == "2028-11-30"
    ids = set(db.session.scalars(db.select(Client.client_id)))
    assert {"mylibrary", "d-library", "ebook-vendor-api"} <= ids
    again = runner.invoke(args=["demo", "--if-empty"])
    assert "Demo data loaded" not in again.output


def test_config_docs_prints_the_generated_table(runner: FlaskCliRunner, tmp_path: Path) -> None:
    from idp.settings.docs import BEGIN
    from idp.settings.docs import END
    from idp.settings.docs import markdown_table

    result = runner.invoke(args=["config", "docs"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == markdown_table()
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\nrest\n", encoding="utf-8")
    assert runner.invoke(args=["config", "docs", "--write", str(readme)]).exit_code == 0
    assert (
        readme.read_text(encoding="utf-8") == f"intro\n{BEGIN}\n{markdown_table()}\n{END}\nrest\n"
    )


def test_config_show_lists_values_but_not_secrets(runner: FlaskCliRunner, app: Any) -> None:
    change_settings(app, IDP_CODE_TTL=30, IDP_METRICS_TOKEN="t" * 40)
    result = runner.invoke(args=["config", "show"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "IDP_CODE_TTL=30" in lines
    assert "IDP_METRICS_TOKEN=(set)" in lines
    assert "t" * 40 not in result.output
