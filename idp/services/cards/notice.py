"""The printed notice (貸出カード番号・仮パスワード通知書, SPEC §6), modelled on the seed.

A print-ready A4 HTML file that staff open locally and print: library name, card number,
temporary password and until when it works, card expiry date, and the first-login steps
with this installation's real URLs. It is written once, by the command that made the
password; the password cannot be recovered afterwards. The file is never served by the
application, so its print style sheet is embedded in it.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import render_template
from flask_babel import force_locale

from idp.i18n import library_contact
from idp.i18n import library_name
from idp.i18n import portal_name
from idp.models.patron import Patron
from idp.services.container import container


@dataclass(frozen=True)
class NoticeEntry:
    """One page of the notice: a patron and the temporary password just generated."""

    card_number: str
    temporary_password: str
    expires_on: dt.date
    #: When the temporary password stops working, in the library's time zone.
    temporary_until: dt.datetime | None
    name: str | None = None

    @classmethod
    def for_patron(cls, patron: Patron, temporary_password: str) -> NoticeEntry:
        """The entry for ``patron`` and their new temporary password."""
        until = patron.temporary_password_expires_at
        zone = ZoneInfo(container().settings.site.timezone)
        return cls(
            card_number=patron.card_number,
            temporary_password=temporary_password,
            expires_on=patron.expires_on,
            temporary_until=until.astimezone(zone) if until else None,
            name=patron.name,
        )


def mylibrary_url() -> str:
    """Where patrons log in to their account: ``IDP_MYLIBRARY_URL`` or ``/account`` here."""
    settings = container().settings
    return str(settings.library.mylibrary_url or f"{settings.site.issuer}/account")


def qr_svg(url: str) -> str:
    """A QR code of ``url`` as inline SVG (segno), sized for print."""
    import segno

    code = segno.make(url, error="m")
    svg: str = code.svg_inline(scale=3, border=4, title=url)
    return svg


def render_notices(
    entries: Iterable[NoticeEntry], *, lang: str = "ja", back_url: str | None = None
) -> str:
    """The notice HTML, one A4 page per entry.

    :param back_url: when the notice is shown in the staff console: a print button and a
        link back there, both hidden on paper.
    """
    settings = container().settings
    portal_url = mylibrary_url()
    with force_locale(lang):
        return render_template(
            "notice/notice.html",
            entries=list(entries),
            back_url=back_url,
            lang=lang,
            library=library_name(lang),
            portal=portal_name(lang),
            contact=library_contact(lang),
            issuer=settings.site.issuer,
            mylibrary_url=portal_url,
            mylibrary_qr=qr_svg(portal_url),
            card_url=f"{settings.site.issuer}/card",
            reissue_url=f"{settings.site.issuer}/password/reissue",
        )


def write_notices(path: Path, entries: Iterable[NoticeEntry], *, lang: str = "ja") -> None:
    """Write the notice file atomically, readable by its owner only (it holds passwords)."""
    html = render_notices(entries, lang=lang)
    folder = path.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600; os.replace keeps it.
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".notice-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
