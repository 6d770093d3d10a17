"""Request limits of the re-issue form: in memory, or in Redis shared by every node."""

from __future__ import annotations

import os
import secrets

import pytest

from idp.services.rate_limits import RateLimits

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")


def test_memory_limits_count_per_identifier() -> None:
    limits = RateLimits(None)
    assert [limits.hit("2/minute", "reissue-ip", "192.0.2.1") for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert limits.hit("2/minute", "reissue-ip", "192.0.2.2")


@pytest.mark.skipif(not REDIS_URL, reason="IDP_TEST_REDIS_URL names the Redis of the run")
def test_redis_limits_are_shared_by_every_node() -> None:
    node_a, node_b = RateLimits(REDIS_URL), RateLimits(REDIS_URL)
    card = secrets.token_hex(8)
    try:
        assert node_a.hit("3/hour", "reissue-card", card)
        assert node_b.hit("3/hour", "reissue-card", card)
        assert node_a.hit("3/hour", "reissue-card", card)
        assert not node_b.hit("3/hour", "reissue-card", card)
    finally:
        node_a.storage.reset()
