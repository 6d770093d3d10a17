"""Start-up helpers around the settings: the generated secret and shared names.

The settings themselves (every ``IDP_*`` variable, its type, default, limits and
documentation) are declared in :mod:`idp.settings`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from idp.settings import is_local_host
from idp.settings.fields import ConfigError
from idp.settings.sections import CHECK_DIGIT_SCHEMES
from idp.settings.sections import PROJECT_ROOT

__all__ = [
    "CHECK_DIGIT_SCHEMES",
    "PROJECT_ROOT",
    "ConfigError",
    "ensure_secret_key",
    "is_local_host",
]


def ensure_secret_key(instance_dir: Path) -> str:
    """Return the secret kept in ``instance/secret_key``, creating it when missing.

    The file is created with mode 0600 and exclusively, so that several workers starting
    together agree on one secret.
    """
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
