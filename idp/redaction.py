"""One-time links never reach a log: their tokens are replaced before a line is written.

A password re-issue link (``/password/reissue/<token>``) and an e-mail confirmation link
(``/account/verify-email/<token>``) are credentials until used. :func:`redact` replaces
the token in any text with ``[redacted]``; the log formatters (:mod:`idp.logs`) pass every
finished line through it, so the access line, error lines with their tracebacks, the
audit log line and any extra field are covered whoever wrote them.
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


def redact(text: str) -> str:
    """``text`` with the token of every one-time link path replaced by ``[redacted]``."""
    if "/password/reissue/" not in text and "/account/verify-email/" not in text:
        return text
    return _TOKEN_IN_PATH.sub(r"\1" + REDACTED, text)
