"""Language of the hosted pages: Japanese by default, English on request (SPEC §4).

Also the names the pages insert (the library, the portal) in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from flask import Flask
from flask import Response
from flask import after_this_request
from flask import current_app
from flask import g
from flask import has_request_context
from flask import request
from flask import session
from flask_babel import get_locale

from idp.settings import app_settings

#: The cookie that remembers a language chosen with the switch. It is not part of the
#: login session, so it outlives logout.
LANGUAGE_COOKIE = "idp_lang"
#: One year, in seconds.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600


def languages() -> list[str]:
    """The configured languages, default first."""
    return list(app_settings(current_app).site.languages)


def _from_ui_locales(value: str, available: list[str]) -> str | None:
    # OIDC Core §3.1.2.1: space-separated BCP47 tags, in order of preference.
    for tag in value.split():
        base = tag.split("-")[0].lower()
        if base in available:
            return base
    return None


def select_locale(pending_ui_locales: Callable[[], str] = lambda: "") -> str:
    """Choose the page language.

    Order: an explicit ``?lang=`` switch (remembered in a long-lived cookie), the
    remembered choice, the OpenID Connect ``ui_locales`` parameter (of this request or of
    the waiting authorization request), ``Accept-Language``, then the default.

    :param pending_ui_locales: ``ui_locales`` of the authorization request the page works
        on (the pages know it: :func:`idp.views.support.pending.pending_ui_locales`).
    """
    available = languages()
    if not has_request_context():
        return available[0]
    chosen = request.args.get("lang")
    if chosen in available:
        if request.cookies.get(LANGUAGE_COOKIE) != chosen:
            _remember_language(chosen)
        return chosen
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in available:
        return str(remembered)
    requested = _from_ui_locales(request.args.get("ui_locales") or "", available)
    requested = requested or _from_ui_locales(pending_ui_locales(), available)
    if requested:
        return requested
    best = request.accept_languages.best_match(available)
    return best or available[0]


def _remember_language(code: str) -> None:
    if g.get("idp_language_cookie"):
        return
    g.idp_language_cookie = True

    @after_this_request
    def _set_cookie(response: Response) -> Response:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_AGE,
            secure=app_settings(current_app).site.issuer.startswith("https://"),
            httponly=True,
            samesite="Lax",
        )
        return response


def current_locale() -> str:
    """The language of the page being rendered."""
    return str(get_locale() or languages()[0])


def library_name(locale: str | None = None) -> str:
    """The library's name in the page's language (or ``locale``)."""
    locale = locale or current_locale()
    library = app_settings(current_app).library
    return library.name if locale == "ja" else library.name_en


def portal_name(locale: str | None = None) -> str:
    """The patron portal's name (Myライブラリ) in the page's language (or ``locale``)."""
    locale = locale or current_locale()
    library = app_settings(current_app).library
    return library.portal_name if locale == "ja" else library.portal_name_en


def library_url() -> str:
    """The library's own web site ("" when not configured)."""
    return app_settings(current_app).library.url


def library_contact(locale: str | None = None) -> list[str]:
    """How to reach the library, one line per item (address, phone, hours)."""
    locale = locale or current_locale()
    library = app_settings(current_app).library
    text = library.contact
    if locale != "ja" and library.contact_en:
        text = library.contact_en
    return [line.strip() for line in text.replace("\\n", "\n").splitlines() if line.strip()]


def signed_in() -> bool:
    """True when a patron is signed in to this browser (for the logout button)."""
    return getattr(session, "patron_id", None) is not None


def switch_language_url(code: str) -> str:
    """The current page with ``lang`` switched to ``code``."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def init_app(app: Flask) -> None:
    """Expose the helpers to templates."""
    # A list of name=name keywords, like any keyword call (ClientSpec in services/clients.py):
    # alike in shape only.
    app.jinja_env.globals.update(
        current_locale=current_locale,
        library_name=library_name,
        portal_name=portal_name,
        library_url=library_url,
        library_contact=library_contact,
        signed_in=signed_in,
        switch_language_url=switch_language_url,
    )
