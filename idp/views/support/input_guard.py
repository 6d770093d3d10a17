"""Refuse request parameters no valid request has: a NUL character.

No parameter of any endpoint (client ids, redirect URIs, nonces, card numbers, e-mail
addresses …) can contain NUL, and PostgreSQL cannot store or even compare one in a text
value: a query carrying it fails with a ``DataError``, which was a 500 wherever a raw
parameter reached the database (``client_id`` at ``/authorize``, ``/token``,
``/logout``; an e-mail address on the account page). One check before every view
answers such a request with a plain 400, in the endpoint's format (JSON or a page, see
:mod:`idp.views.support.errors`). JSON bodies check their own members (:mod:`idp.views.patron_api`).
"""

from __future__ import annotations

from flask import Flask
from flask import request
from werkzeug.exceptions import BadRequest


def _refuse_nul() -> None:
    # request.form is read only for form posts; JSON and other bodies are left alone.
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for key, value in source.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise BadRequest("A parameter contains a NUL character.")


def init_app(app: Flask) -> None:
    """Check every request's parameters before its view runs."""
    app.before_request(_refuse_nul)
