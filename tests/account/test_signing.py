"""Signed link tokens: one salt per purpose, expiry on the services' clock."""

from __future__ import annotations

from typing import Any

import pytest

from idp.services.signing import TokenExpired
from idp.services.signing import TokenInvalid
from idp.services.signing import TokenMissing
from idp.services.signing import TokenService

SECRET = "a-secret-that-is-long-enough-0123456789"


def _service(clock: Any, purpose: str = "password.reissue", max_age: int = 1800) -> TokenService:
    return TokenService(SECRET, purpose, max_age, clock=clock)


def test_round_trip(clock: Any) -> None:
    tokens = _service(clock)
    assert tokens.loads(tokens.dumps({"p": 7, "v": 2})) == {"p": 7, "v": 2}


def test_a_token_for_one_purpose_is_refused_for_another(clock: Any) -> None:
    token = _service(clock, "email.verify").dumps({"p": 7})
    with pytest.raises(TokenInvalid):
        _service(clock, "password.reissue").loads(token)


def test_expiry_follows_the_clock(clock: Any) -> None:
    tokens = _service(clock)
    token = tokens.dumps({"p": 7})
    clock.advance(seconds=1800)
    assert tokens.loads(token) == {"p": 7}
    clock.advance(seconds=1)
    with pytest.raises(TokenExpired):
        tokens.loads(token)


@pytest.mark.parametrize("bad", ["x", "eyJwIjo3fQ.abc.def", "A" * 2000])
def test_altered_or_foreign_tokens_are_invalid(clock: Any, bad: str) -> None:
    with pytest.raises(TokenInvalid):
        _service(clock).loads(bad)


def test_tampered_token_is_invalid(clock: Any) -> None:
    token = _service(clock).dumps({"p": 7})
    with pytest.raises(TokenInvalid):
        _service(clock).loads(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


def test_missing_token(clock: Any) -> None:
    with pytest.raises(TokenMissing):
        _service(clock).loads("")
