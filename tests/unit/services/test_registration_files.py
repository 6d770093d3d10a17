from __future__ import annotations

from pathlib import Path

import pytest

from idp.services.registration_files import read_registration_files


class ReaderError(ValueError):
    pass


def test_files_are_read_in_name_order_and_only_toml(tmp_path: Path) -> None:
    (tmp_path / "b.toml").write_text('client_id = "b"\n')
    (tmp_path / "a.toml").write_text('protocol = "saml"\n')
    (tmp_path / "notes.txt").write_text("not a registration")
    read = [(path.name, data) for path, data in read_registration_files(tmp_path, ReaderError)]
    assert read == [("a.toml", {"protocol": "saml"}), ("b.toml", {"client_id": "b"})]


def test_an_unreadable_file_raises_the_readers_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text('client_id = "unterminated\n')
    with pytest.raises(ReaderError, match=r"^broken\.toml: "):
        list(read_registration_files(tmp_path, ReaderError))
