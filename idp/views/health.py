"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import db

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.route("/readyz")
def readyz() -> Any:
    """The database answers; otherwise 503 so the balancer sends traffic elsewhere."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "unavailable", "database": "down"}), 503
    return jsonify({"status": "ok", "database": "ok"})
