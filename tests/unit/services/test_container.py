"""The service container: one typed field per service, all built with the application."""

from __future__ import annotations

import dataclasses

from flask import Flask

from idp.services.container import IdpServices
from idp.services.container import container


def test_every_service_is_typed() -> None:
    # The annotations as written (their types are imported for type checking only).
    written = {f.name: str(f.type) for f in dataclasses.fields(IdpServices)}
    untyped = [name for name, hint in written.items() if "Any" in hint and name != "config"]
    assert untyped == []
    # ``config`` is the one mapping left (the typed settings replace it).
    assert {f.name for f in dataclasses.fields(IdpServices)} >= {"limiter", "cards", "redis"}


def test_every_service_exists_once_the_app_is_built(app: Flask) -> None:
    built = container()
    for field in dataclasses.fields(IdpServices):
        if field.name != "redis":  # None without IDP_REDIS_URL
            assert getattr(built, field.name) is not None, field.name
    assert container() is built
