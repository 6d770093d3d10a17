"""Database error texts without data: no bound values, no PostgreSQL ``DETAIL`` line.

``hide_parameters`` (:func:`idp.engine_options`) keeps the bound values out of an
error's text. PostgreSQL repeats values on its own, in the error's ``DETAIL`` line
(``Key (card_number)=(0300000001) already exists.``); this hook cuts that line from the
driver's exception and from SQLAlchemy's, so that a logged error never carries a card
number or a hash. The detail stays readable in code through ``orig.diag``.
"""

from __future__ import annotations

import re

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine import ExceptionContext

#: From the first detail line of a PostgreSQL error message to its end.
_DETAIL = re.compile(r"\n(DETAIL|HINT|CONTEXT|WHERE): .*", re.DOTALL)


def _without_detail(error: BaseException | None) -> None:
    if error is None or len(error.args) != 1 or not isinstance(error.args[0], str):
        return
    text = error.args[0]
    cut = _DETAIL.sub("", text)
    if cut != text:
        error.args = (cut,)


def _redact(context: ExceptionContext) -> None:
    _without_detail(context.original_exception)
    _without_detail(context.sqlalchemy_exception)


def hide_error_details(engine: Engine) -> None:
    """Cut data-bearing detail lines from every error ``engine`` raises."""
    event.listen(engine, "handle_error", _redact)
