"""The registration folder's files: one reader for the OpenID Connect clients
(:mod:`idp.services.clients`) and the SAML service providers (:mod:`idp.saml.registry`),
which share the folder and tell their files apart by ``protocol``."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_registration_files(
    folder: Path, error: type[ValueError]
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each ``*.toml`` of ``folder`` (OIDC clients and SAML service providers alike),
    parsed, in the order of their names.

    :param error: the reader's own error class, raised naming a file that cannot be read.
    """
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise error(f"{path.name}: {exc}") from exc
        yield path, data
