"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz``: the process answers (restart it when not). ``/readyz``: the database and,
when ``IDP_REDIS_URL`` is set, Redis answer (send no traffic here when not). Both are
cheap, unauthenticated and say nothing but "ok" or which dependency failed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import db
from idp.redis_client import shared_redis

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.route("/readyz")
def readyz() -> Any:
    """The database (and Redis, if configured) answer; otherwise 503 naming the failure."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "down"
    shared = shared_redis()
    if shared is not None:
        checks["redis"] = "ok" if shared.ping() else "down"
    ready = all(state == "ok" for state in checks.values())
    body = {"status": "ok" if ready else "unavailable", **checks}
    return jsonify(body), 200 if ready else 503
