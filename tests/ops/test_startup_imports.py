"""A worker starts without the libraries of the rarer flows (SAML, passkeys, QR codes).

pysaml2 with xmlschema (~20 MB) and py_webauthn (~5 MB) are imported by the first
request that needs them, so that a worker answering OpenID Connect keeps its memory
(SPEC §8: ≤ 100 MB per worker). Checked in a fresh interpreter: this test process has
loaded them already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ISSUER
from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
LATER = ("saml2", "xmlschema", "webauthn", "segno", "pyotp")

PROGRAM = """
import json, sys
from idp import create_app
app = create_app()
app.test_client().get("/.well-known/openid-configuration")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_the_application_starts_without_saml_passkey_and_qr_libraries(
    tmp_path: Path, database_url: str, keys_dir: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "IDP_ISSUER": ISSUER,
        "IDP_SECRET_KEY": SECRET,
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(keys_dir),
        "IDP_INSTANCE_DIR": str(tmp_path),
    }
    done = subprocess.run(  # noqa: S603 - our own program
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert loaded.isdisjoint(LATER), sorted(loaded & set(LATER))
    assert "flask" in loaded  # the check itself sees what was imported
