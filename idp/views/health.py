"""Liveness and readiness probes for load balancers and orchestrators.

``/healthz``: the process answers (restart it when not). ``/readyz``: the database and,
when ``IDP_REDIS_URL`` is set, Redis answer (send no traffic here when not). Both are
cheap, unauthenticated and say nothing but "ok" or which dependency failed.

A pooled database connection that was lost is replaced and the check asked once more
(as requests are, idp/views/support/unavailable.py): ``/readyz`` answers 503 when requests would.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import db
from idp.services.container import container
from idp.services.container import shared_redis
from idp.views.support.unavailable import discard_transaction
from idp.views.support.unavailable import is_disconnect

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.route("/readyz")
def readyz() -> Any:
    """The database (and Redis, if configured) answer; otherwise 503 naming the failure."""
    checks: dict[str, str] = {"database": "ok" if _database_answers() else "down"}
    shared = shared_redis()
    if shared is not None:
        checks["redis"] = "ok" if shared.ping() else "down"
    ready = all(state == "ok" for state in checks.values())
    body = {"status": "ok" if ready else "unavailable", **checks}
    if ready:
        return jsonify(body)
    retry_after = container().settings.site.retry_after
    return jsonify(body), 503, {"Retry-After": retry_after, "Cache-Control": "no-store"}


def _database_answers() -> bool:
    for attempt in (1, 2):
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            discard_transaction()
            if attempt == 2 or not is_disconnect(error):
                return False
        else:
            discard_transaction()
            return True
    return False
