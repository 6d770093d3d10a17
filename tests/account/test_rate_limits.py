"""Limits of the re-issue form: the one limiter, in the database or shared through Redis."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask

from idp.extensions import db
from idp.services.signin import Slot
from idp.services.signin import limiter
from tests.conftest import TEST_REDIS_URL
from tests.rebuild import rebuild_limiter
from tests.support.factories import change_settings


def test_limits_count_per_identifier_from_the_configuration(app: Flask) -> None:
    change_settings(app, IDP_REISSUE_IP_PER_MINUTE=2)
    rebuild_limiter(app)
    first = [Slot("reissue_ip", "192.0.2.1")]
    assert [limiter().hit(first) == 0 for _ in range(3)] == [True, True, False]
    assert limiter().hit([Slot("reissue_ip", "192.0.2.2")]) == 0


def test_redis_limits_are_shared_by_every_node(
    app_config: dict[str, Any], redis_prefix: str
) -> None:
    from idp import create_app

    app_config.update(IDP_REDIS_URL=TEST_REDIS_URL, IDP_THROTTLE_REDIS_PREFIX=redis_prefix)
    node_a, node_b = create_app(app_config), create_app(app_config)
    card = [Slot("reissue_card", secrets.token_hex(8))]
    answers = []
    for node in (node_a, node_b, node_a, node_b):
        with node.app_context():
            answers.append(limiter().hit(card) == 0)
            db.session.remove()
    assert answers == [True, True, True, False]
    for node in (node_a, node_b):
        with node.app_context():
            db.engine.dispose()
