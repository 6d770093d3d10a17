"""Test helper: call the sign-in core the way the tests of every channel need."""

from __future__ import annotations

from idp.extensions import db
from idp.services.allowance import Allowance
from idp.services.signin import SignInResult
from idp.services.signin import Source
from idp.services.signin import check_patron


def authenticate(
    card_number: str,
    password: str,
    *,
    source_ip: str | None = None,
    channel: str = "web",
    user_agent: str | None = None,
    allowance: Allowance | None = None,
) -> SignInResult:
    """:func:`~idp.services.signin.check_patron` with a source made of keyword arguments.

    Commits afterwards, as every face does (the check itself leaves what a right password
    changes to its caller).
    """
    result = check_patron(
        card_number,
        password,
        channel=channel,
        source=Source(ip=source_ip, user_agent=user_agent, allowance=allowance),
    )
    db.session.commit()
    return result
