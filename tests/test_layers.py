"""The layers of ``idp`` run one way, and no two packages import each other.

Every module under ``idp/`` is parsed with :mod:`ast` (nothing is imported) and placed in
a layer, from the top down::

    entry           the app factory (idp/__init__.py), the server configs
    faces           views/ blueprints, cli/, sip2/, saml/, the purge thread, migrations/
    oauth           Authlib wiring
    services        product rules: no Flask request, no ``g``
    models          tables
    infrastructure  settings, extensions, Redis, logs, metrics, i18n, …

A module may import its own layer and the layers below it, never one above. Faces do not
import one another (except the few pairs in ``FACE_IMPORTS``): the SIP2 server, the command
line and the web pages share services, not each other's code.

Imports inside ``if TYPE_CHECKING:`` count like any other: a type that names an upper
layer is a dependency on it all the same (mypy, the reader and the next refactoring see it).
Imports inside functions count too. No cycle between packages is allowed either (the
package graph: ``idp.services`` → ``idp.oauth`` and back would fail). Services and models
do not import Flask's ``request``, ``g`` or ``session``: the faces pass request facts in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "idp"

#: Top to bottom. A module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", ("idp", "idp.gunicorn_conf", "idp.granian_conf", "idp.command")),
    (
        "faces",
        (
            "idp.views",
            "idp.api",
            "idp.cli",
            "idp.sip2",
            "idp.saml",
            "idp.purger",
            "idp.migrations",
        ),
    ),
    ("oauth", ("idp.oauth",)),
    ("services", ("idp.services",)),
    ("models", ("idp.models",)),
    (
        "infrastructure",
        (
            "idp.config",
            "idp.settings",
            "idp.extensions",
            "idp.redis_client",
            "idp.logs",
            "idp.metrics",
            "idp.i18n",
            "idp.json_provider",
            "idp.db_errors",
            "idp.redaction",
            "idp.sqlite_writes",
            "idp.direct_sql",
            "idp.lazy_command",
        ),
    ),
)

#: The faces, each its own component.
FACES: tuple[str, ...] = LAYERS[1][1]

#: Face → face imports that are the point: the command line starts the SIP2 server and
#: manages SAML service providers; the SAML pages use the SAML protocol package.
FACE_IMPORTS = frozenset(
    {
        ("idp.cli", "idp.sip2"),
        ("idp.cli", "idp.saml"),
        ("idp.views", "idp.saml"),
    }
)


@dataclass(frozen=True)
class Import:
    """One ``import`` of an ``idp`` module, where it was written."""

    source: str
    target: str
    line: int
    type_only: bool


def module_name(path: Path, root: Path) -> str:
    """``idp/views/login.py`` → ``idp.views.login``; a package is its ``__init__``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, is_package: bool, code: str) -> Iterator[Import]:
    """Every import of an ``idp`` module in ``code`` (the source of module ``name``)."""
    tree = ast.parse(code)
    type_only_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if hasattr(sub, "lineno"):
                        type_only_lines.add(sub.lineno)
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from idp.services import cards`` imports the module idp.services.cards.
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            targets = [t if t != f"{base}.*" else base for t in targets]
        else:
            continue
        for target in targets:
            if target == "idp" or target.startswith("idp."):
                yield Import(name, target, node.lineno, node.lineno in type_only_lines)


def all_imports(root: Path = ROOT) -> tuple[set[str], list[Import]]:
    """The modules under ``root`` and every import between them."""
    modules: set[str] = set()
    found: list[Import] = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        modules.add(name)
        code = path.read_text(encoding="utf-8")
        found.extend(imports_of(name, path.name == "__init__.py", code))
    return modules, found


def resolve(target: str, modules: set[str]) -> str:
    """The module an import names (``from idp.x import function`` → ``idp.x``)."""
    while target not in modules and "." in target:
        target = target.rpartition(".")[0]
    return target


def _longest(name: str, prefixes: Iterable[str]) -> str | None:
    best = None
    for prefix in prefixes:
        # ``idp`` itself is the app factory only, not the prefix of every module.
        inside = name == prefix or (prefix != "idp" and name.startswith(prefix + "."))
        if inside and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def layer_of(name: str) -> int:
    """The index of ``name``'s layer in :data:`LAYERS` (0 is the top)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        prefix = _longest(name, prefixes)
        if prefix is not None and (best is None or len(prefix) > best[1]):
            best = (index, len(prefix))
    if best is None:
        raise LookupError(f"{name} has no layer: add it to LAYERS in tests/test_layers.py")
    return best[0]


def face_of(name: str) -> str | None:
    """The face component ``name`` belongs to, if any."""
    return _longest(name, FACES)


def back_arrows(modules: set[str], imports: Iterable[Import]) -> list[str]:
    """Each import that points up a layer, or from one face into another."""
    wrong = []
    for imp in imports:
        source = imp.source
        target = resolve(imp.target, modules)
        here, there = layer_of(source), layer_of(target)
        kind = " (type only)" if imp.type_only else ""
        if there < here:
            wrong.append(
                f"{source}:{imp.line} [{LAYERS[here][0]}] imports {target} "
                f"[{LAYERS[there][0]}]{kind}"
            )
            continue
        faces = face_of(source), face_of(target)
        if faces[0] and faces[1] and faces[0] != faces[1] and faces not in FACE_IMPORTS:
            wrong.append(f"{source}:{imp.line} face {faces[0]} imports face {faces[1]}{kind}")
    return wrong


def package_of(name: str) -> str:
    """The unit of the package graph: ``idp.services.signin.core`` → ``idp.services``;
    a module directly under ``idp/`` (``idp.config``) is a unit of its own."""
    return ".".join(name.split(".")[:2])


def cycles(modules: set[str], imports: Iterable[Import]) -> list[list[str]]:
    """Cycles in the graph of the packages directly under ``idp/`` (and its flat modules):
    a unit → the units its modules import."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        source = package_of(imp.source)
        target = package_of(resolve(imp.target, modules))
        if source == target:
            continue
        graph.setdefault(source, set()).add(target)
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        found.append([*path, start])
                elif nxt not in path and nxt > start:
                    stack.append((nxt, [*path, nxt]))
    return found


def test_every_module_has_a_layer() -> None:
    modules, _ = all_imports()
    for name in modules:
        layer_of(name)


def test_imports_run_down_the_layers() -> None:
    modules, imports = all_imports()
    assert back_arrows(modules, imports) == []


def test_no_cycle_between_packages() -> None:
    modules, imports = all_imports()
    assert cycles(modules, imports) == []


#: What a product rule may not read: the request and what Flask keeps per request.
REQUEST_BOUND = frozenset({"request", "g", "session", "has_request_context"})


def request_reads(name: str, code: str) -> list[str]:
    """Each ``from flask import request`` (or ``g``, ``session``) in a module."""
    found: list[str] = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            found.extend(
                f"{name}:{node.lineno} imports flask.{alias.name}"
                for alias in node.names
                if alias.name in REQUEST_BOUND
            )
    return found


def test_services_and_models_do_not_read_the_request() -> None:
    """Request facts (address, TLS, the signed-in browser) come in as arguments."""
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path, ROOT)
        if layer_of(name) in (layer_of("idp.services"), layer_of("idp.models")):
            wrong.extend(request_reads(name, path.read_text(encoding="utf-8")))
    assert wrong == []


def test_reading_the_request_in_a_service_fails() -> None:
    assert request_reads("idp.services.x", "from flask import g, request\n") == [
        "idp.services.x:1 imports flask.g",
        "idp.services.x:1 imports flask.request",
    ]


def _synthetic(tmp_path: Path, files: dict[str, str]) -> tuple[set[str], list[Import]]:
    """A throwaway ``idp`` tree with the given modules, read like the real one."""
    root = tmp_path / "idp"
    for relative, code in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    return all_imports(root)


@pytest.mark.parametrize(
    ("importer", "code", "expected"),
    [
        # today's back-arrows of the review, each as it was written
        ("services/cards.py", "from idp.oauth.keys import SIGNING_ALG\n", "[oauth]"),
        ("services/logout.py", "from idp.views.support.sessions import end\n", "[faces]"),
        ("models/token.py", "def f():\n    from idp.services.container import x\n", "[services]"),
        ("cli/__init__.py", "from idp import create_app\n", "[entry]"),
        ("sip2/database.py", "from idp.views import login\n", "face idp.views"),
        ("i18n.py", "from idp.views.pending import recall\n", "[faces]"),
        # a type-only import counts as well
        (
            "services/container.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from idp.oauth.server import Server\n",
            "(type only)",
        ),
        ("services/x.py", "from ..oauth import keys\n", "[oauth]"),
    ],
)
def test_a_back_import_fails(tmp_path: Path, importer: str, code: str, expected: str) -> None:
    files = {
        "__init__.py": "",
        "cli/__init__.py": "",
        "services/container.py": "",
        "views/support/__init__.py": "",
        "views/support/sessions.py": "",
        "i18n.py": "",
        "oauth/__init__.py": "",
        "oauth/keys.py": "SIGNING_ALG = 'RS256'\n",
        "oauth/server.py": "",
        "services/__init__.py": "",
        "models/__init__.py": "",
        "sip2/__init__.py": "",
        "views/__init__.py": "",
        "views/login.py": "",
        "views/pending.py": "",
        importer: code,
    }
    modules, imports = _synthetic(tmp_path, files)
    (wrong,) = back_arrows(modules, imports)
    assert expected in wrong


def test_a_cycle_fails(tmp_path: Path) -> None:
    modules, imports = _synthetic(
        tmp_path,
        {
            "__init__.py": "",
            "views/__init__.py": "",
            "views/a.py": "from idp.views.support.b import x\n",
            "views/support/__init__.py": "",
            "views/support/b.py": "",
            "sip2/__init__.py": "",
            "sip2/c.py": "import idp.views.a\n",
            "cli/__init__.py": "",
            "cli/d.py": "import idp.sip2.c\n",
            "services/__init__.py": "",
            "services/e.py": "import idp.models.f\n",
            "models/__init__.py": "",
            "models/f.py": "from idp.services import e\n",
        },
    )
    assert cycles(modules, imports) == [["idp.models", "idp.services", "idp.models"]]


def test_a_module_without_a_layer_fails(tmp_path: Path) -> None:
    modules, _ = _synthetic(tmp_path, {"__init__.py": "", "newthing.py": ""})
    with pytest.raises(LookupError, match=r"idp\.newthing has no layer"):
        for name in sorted(modules):
            layer_of(name)
