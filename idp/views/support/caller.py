"""Who is calling, as the services take it: the caller's address and user agent.

The faces read these request facts here, once, and pass them to the services (which
never read the request). The address is ``request.remote_addr``: the peer's, or, with
``IDP_TRUST_PROXY``, the one the nearest proxy appended to ``X-Forwarded-For``
(:class:`~werkzeug.middleware.proxy_fix.ProxyFix` in :func:`idp.create_app`).
"""

from __future__ import annotations

from typing import TypedDict

from flask import request


class CallerFacts(TypedDict):
    """The keyword arguments ``ip`` and ``user_agent`` of audit records and services."""

    ip: str | None
    user_agent: str


def caller_address() -> str | None:
    """The address of the browser or server making this request (None outside one)."""
    return request.remote_addr


def caller_user_agent() -> str:
    """The ``User-Agent`` header of this request ("" when there is none)."""
    return request.user_agent.string


def caller_facts() -> CallerFacts:
    """This request's address and user agent, to pass on as ``**caller_facts()``."""
    return {"ip": caller_address(), "user_agent": caller_user_agent()}
