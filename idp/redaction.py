"""One-time links never reach a log: their tokens are replaced before a line is written.

A password re-issue link (``/password/reissue/<token>``) and an e-mail confirmation link
(``/account/verify-email/<token>``) are credentials until used. :func:`redact` replaces
the token in any text with ``[redacted]``; the log formatters (:mod:`idp.logs`) pass every
finished line through it, so the access line, error lines with their tracebacks, the
audit log line and any extra field are covered whoever wrote them.

Database errors are covered too: SQLAlchemy runs with ``hide_parameters`` (no bound
values in its messages), but PostgreSQL's own message adds a ``DETAIL`` line with the
values it refused (``Key (card_number)=(…) already exists``, ``Failing row contains
(…)``); that line's text is replaced as well.
"""

from __future__ import annotations

import re

#: Paths whose last segment is a one-time token, and what stands in for it.
ONE_TIME_PATHS = ("/password/reissue/", "/account/verify-email/")
REDACTED = "[redacted]"
# The token runs to the next character a URL path segment or a log line ends it with;
# percent-encoded slashes (``%2F``) are part of the match, so an encoded path is covered.
_TOKEN_IN_PATH = re.compile(
    "(" + "|".join(re.escape(p) for p in ONE_TIME_PATHS) + r")[^/?#\s\"'<>\\]+"
)


# Up to the end of the line, real or escaped in a JSON string ("\n").
_DATABASE_DETAIL = re.compile(r"DETAIL:.*?(?=\\n|\n|$)", re.MULTILINE)


def redact(text: str) -> str:
    """``text`` with one-time link tokens and database error details replaced."""
    if "DETAIL:" in text:
        text = _DATABASE_DETAIL.sub("DETAIL: " + REDACTED, text)
    if "/password/reissue/" not in text and "/account/verify-email/" not in text:
        return text
    return _TOKEN_IN_PATH.sub(r"\1" + REDACTED, text)
