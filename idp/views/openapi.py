"""The OpenAPI 3 description of the JSON APIs, served at ``/openapi.json``.

The description is the static file ``idp/data/openapi.yaml``; this view only sets
``servers`` to the configured issuer and serves it as JSON with an ETag.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Blueprint
from flask import Response

from idp.services.container import container
from idp.views.discovery import _cached_json
from idp.views.discovery import _json_document

bp = Blueprint("openapi", __name__)


def load_description() -> dict[str, Any]:
    """The OpenAPI description as written in ``idp/data/openapi.yaml`` (no ``servers``)."""
    import yaml  # only when the document is first asked for (PyYAML: ~2 MB a worker)

    text = resources.files("idp").joinpath("data/openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def build_document(issuer: str) -> dict[str, Any]:
    """The served document: the static description with this provider as its server."""
    return {**load_description(), "servers": [{"url": issuer}]}


@bp.route("/openapi.json")
def openapi_document() -> Response:
    """The document (read once per process, served with an ETag)."""
    issuer = container().settings.site.issuer
    body, etag = _cached_json("openapi", lambda: build_document(issuer))
    return _json_document(body, etag, 3600)
