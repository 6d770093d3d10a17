"""A worker imports the heavy libraries of rarely used features only when it uses them.

pysaml2 (with xmlschema), py_webauthn and PyYAML are ~25 MB of a worker together; a
worker that answers no SAML request, runs no passkey ceremony and serves no OpenAPI
document must not hold them (the per-worker memory target, docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ON_DEMAND = ("saml2", "xmlschema", "webauthn", "yaml", "alembic", "barcode", "PIL")

SCRIPT = """
import json, sys
from idp import create_app
app = create_app(json.loads(sys.argv[1]))
client = app.test_client()
for path in ("/.well-known/openid-configuration", "/jwks.json", "/login"):
    client.get(path)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:])))
"""


def test_create_app_and_common_pages_leave_rare_libraries_unloaded(
    app_config: dict[str, Any],
) -> None:
    config = {k: v for k, v in app_config.items() if isinstance(v, str | int | bool)}
    found = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT, json.dumps(config), *ON_DEMAND],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(found.stdout.splitlines()[-1]) == []
