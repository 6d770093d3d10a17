"""The unit tests mirror the source tree: ``tests/unit/<package>/test_<module>.py`` tests
``idp/<package>/<module>.py``, so that a module's tests are found from its name alone.

Feature (functional) tests live in the other folders and are not held to this.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "tests" / "unit"
SOURCE = ROOT / "idp"


def _tested_module(test_file: Path) -> Path:
    """``tests/unit/a/test_b.py`` → ``idp/a/b.py`` (or the package ``idp/a/b/``)."""
    relative = test_file.relative_to(UNIT)
    return SOURCE / relative.parent / relative.name.removeprefix("test_")


def _exists(module: Path) -> bool:
    return module.is_file() or (module.with_suffix("") / "__init__.py").is_file()


def test_every_unit_test_file_names_a_module_of_idp() -> None:
    strays = [
        str(path.relative_to(ROOT))
        for path in sorted(UNIT.rglob("test_*.py"))
        if not _exists(_tested_module(path))
    ]
    assert not strays, f"tests/unit files without a matching idp module (move or rename): {strays}"


def test_every_unit_folder_is_a_package_of_idp() -> None:
    strays = [
        str(folder.relative_to(ROOT))
        for folder in sorted(UNIT.rglob("*"))
        if folder.is_dir()
        and folder.name != "__pycache__"
        and not (SOURCE / folder.relative_to(UNIT) / "__init__.py").is_file()
    ]
    assert not strays, f"tests/unit folders that are not idp packages: {strays}"


def test_the_check_sees_a_misplaced_file() -> None:
    """The rule can fail: a name that mirrors nothing is reported."""
    assert _exists(_tested_module(UNIT / "sip2" / "test_messages.py"))
    assert not _exists(_tested_module(UNIT / "sip2" / "test_no_such_module.py"))
    assert not _exists(_tested_module(UNIT / "test_sip2_server.py"))
