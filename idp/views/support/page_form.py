"""The base of every form of the hosted pages: Flask-WTF's form (each carries a CSRF
token), with WTForms' own words (a field's default label, a built-in validator's
message) in the page's language from a catalogue read once per language per process.
Flask-WTF's own lookup reads the catalogue file again for every request that makes a
form."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from babel import support
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path


@lru_cache(maxsize=16)
def wtforms_catalogue(language: str) -> support.Translations | support.NullTranslations:
    """WTForms' messages in ``language`` (a locale name, as Flask-Babel gives it)."""
    return support.Translations.load(messages_path(), [language], domain="wtforms")


class PageForm(FlaskForm):  # type: ignore[misc]
    """A hosted page's form (see the module's docstring)."""

    class Meta(FlaskForm.Meta):  # type: ignore[misc]
        def get_translations(self, form: Any) -> Any:
            locale = get_locale()
            return None if locale is None else wtforms_catalogue(str(locale))
