"""The OpenAPI 3 description of the JSON APIs, served at ``/openapi.json``."""

from __future__ import annotations

from flask import Blueprint
from flask import Response

from idp.services.container import services
from idp.views.discovery import _cached_json
from idp.views.discovery import _json_document
from idp.views.openapi_spec import build_document

bp = Blueprint("openapi", __name__)


@bp.route("/openapi.json")
def openapi_document() -> Response:
    """The document (built once per process, served with an ETag)."""
    issuer = services().config["IDP_ISSUER"]
    body, etag = _cached_json("openapi", lambda: build_document(issuer))
    return _json_document(body, etag, 3600)
