"""Mail templates: every message in them has Japanese, as the pages do."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def test_every_mail_message_has_a_japanese_translation() -> None:
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "idp" / "templates" / "mail"),
            method_map=[("**.txt", "jinja2")],
            keywords={"_": None, "gettext": None},
        )
    }
    assert len(found) >= 8
    with (ROOT / "idp/translations/ja/LC_MESSAGES/messages.po").open("rb") as handle:
        translated = {m.id for m in read_po(handle) if m.id and m.string}
    assert not sorted(found - translated)
