"""Error answers: protocol errors in the protocol's format, pages for people, never a 500."""

from __future__ import annotations

import logging
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from flask import Flask
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from idp.redaction import redact
from idp.services.container import container

log = logging.getLogger(__name__)

#: Paths answered in JSON (machine clients), everything else gets an HTML page.
JSON_PREFIXES = ("/token", "/revoke", "/introspect", "/userinfo", "/api/", "/jwks", "/.well")


def authorization_error(error: OAuth2Error) -> Response:
    """Answer a failed authorization request.

    With a validated, registered ``redirect_uri`` the error goes back to the client with
    ``iss`` (RFC 9207 §2); otherwise the patron sees a page and nothing is redirected
    (RFC 6749 §4.1.2.1: never to an unverified URI).
    """
    if error.redirect_uri:
        status, _body, headers = error()
        location = add_params_to_uri(
            dict(headers)["Location"], [("iss", container().settings.site.issuer)]
        )
        response = Response(status=status, headers={"Location": location})
        response.headers["Cache-Control"] = "no-store"
        return response
    return error_page(400, _("This sign-in request cannot be processed."), error.error, _why(error))


def _why(error: OAuth2Error) -> str:
    """What went wrong, in the patron's language (Authlib's descriptions are English)."""
    description = (error.description or "").lower()
    if error.error == "invalid_client":
        return str(_("This service is not registered here. Please contact the service."))
    if "redirect" in description:
        return str(
            _(
                "The address this service asked to return to is not registered for it. "
                "Please contact the service."
            )
        )
    return str(_("The service sent an incomplete or invalid request. Please contact the service."))


def error_page(
    status: int, message: str, code: str | None = None, detail: str | None = None
) -> Response:
    """Render the error page with ``status``."""
    body = render_template("errors/error.html", message=message, code=code, detail=detail)
    return Response(body, status=status, mimetype="text/html")


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if _wants_json():
        names = {
            400: "invalid_request",
            401: "invalid_client",
            404: "not_found",
            405: "method_not_allowed",
            413: "invalid_request",
        }
        body = {"error": names.get(status, "invalid_request"), "error_description": exc.name}
        return jsonify(body), status
    messages = {
        404: _("This page does not exist."),
        405: _("This page cannot be used that way."),
        413: _("The request is too large."),
    }
    return error_page(status, messages.get(status, _("The request could not be processed.")))


def _csrf_error(exc: CSRFError) -> Any:
    return error_page(
        400, _("The form has expired. Please go back, reload the page and try again.")
    )


def _unexpected(exc: Exception) -> Any:
    log.exception("unhandled error on %s %s", request.method, redact(request.path))
    if _wants_json():
        return jsonify({"error": "server_error"}), 500
    return error_page(500, _("Something went wrong. Please try again later."))


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
