"""Language of the hosted pages: Japanese by default, English on request (SPEC §4)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask
from flask import current_app
from flask import has_request_context
from flask import request
from flask import session
from flask_babel import get_locale


def languages() -> list[str]:
    """The configured languages, default first."""
    return [code.strip() for code in current_app.config["IDP_LANGUAGES"].split(",") if code]


def select_locale() -> str:
    """Choose the page language.

    Order: an explicit ``?lang=`` switch (remembered in the session), the OpenID Connect
    ``ui_locales`` parameter, the remembered choice, ``Accept-Language``, then Japanese.
    """
    available = languages()
    if not has_request_context():
        return available[0]
    chosen = request.args.get("lang")
    if chosen in available:
        session["lang"] = chosen
        return chosen
    for tag in (request.args.get("ui_locales") or "").split():
        base = tag.split("-")[0].lower()
        if base in available:
            return base
    remembered = session.get("lang")
    if remembered in available:
        return str(remembered)
    best = request.accept_languages.best_match(available)
    return best or available[0]


def current_locale() -> str:
    """The language of the page being rendered."""
    return str(get_locale() or languages()[0])


def library_name() -> str:
    """The library's name in the page's language."""
    key = "IDP_LIBRARY_NAME" if current_locale() == "ja" else "IDP_LIBRARY_NAME_EN"
    return str(current_app.config[key])


def switch_language_url(code: str) -> str:
    """The current page with ``lang`` switched to ``code``."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def init_app(app: Flask) -> None:
    """Expose the helpers to templates."""
    app.jinja_env.globals.update(
        current_locale=current_locale,
        library_name=library_name,
        switch_language_url=switch_language_url,
    )
