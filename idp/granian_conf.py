"""granian command line for production: what ``idp serve`` runs by default.

granian (a Rust HTTP server) answers the same WSGI application as gunicorn with far
less work per request (docs/performance.md); ``IDP_SERVER=gunicorn`` keeps gunicorn
(:mod:`idp.gunicorn_conf`). Read from the environment like gunicorn's settings:
``IDP_BIND``, ``IDP_WORKERS`` (0: 2 × cores + 1), ``IDP_THREADS`` (blocking threads per
worker), ``IDP_GRACEFUL_TIMEOUT``, ``IDP_LOG_FORMAT`` (``json`` by default here),
``IDP_LOG_LEVEL`` and ``IDP_METRICS``. granian's own access log is off: the application
writes one line per request (:mod:`idp.logs`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Mapping
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

SERVERS = ("granian", "gunicorn")


def chosen_server(environ: Mapping[str, str]) -> str:
    """``IDP_SERVER``: ``granian`` (default) or ``gunicorn``."""
    server = (environ.get("IDP_SERVER") or "granian").strip().lower()
    if server not in SERVERS:
        raise ValueError(f"IDP_SERVER must be one of {', '.join(SERVERS)}, not {server!r}")
    return server


def granian_args(environ: MutableMapping[str, str], extra: tuple[str, ...] = ()) -> list[str]:
    """``python -m granian …`` arguments for :func:`served_app` (a factory).

    Also prepares the environment the workers inherit: JSON logs unless asked
    otherwise, and a fresh metrics folder when metrics are on.
    """
    environ.setdefault("IDP_LOG_FORMAT", "json")
    _metrics_folder(environ)
    host, _, port = environ.get("IDP_BIND", "127.0.0.1:8000").rpartition(":")
    workers = int(environ.get("IDP_WORKERS", "0") or 0) or multiprocessing.cpu_count() * 2 + 1
    threads = int(environ.get("IDP_THREADS", "1") or 1)
    graceful = int(environ.get("IDP_GRACEFUL_TIMEOUT", "30") or 30)
    level = environ.get("IDP_LOG_LEVEL", "INFO").lower()
    log_config = _log_config(environ["IDP_LOG_FORMAT"], level.upper())
    return [
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--factory",
        "--host",
        host.strip("[]") or "127.0.0.1",
        "--port",
        port,
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--workers-kill-timeout",
        str(graceful),
        "--respawn-failed-workers",
        "--no-ws",
        "--no-access-log",
        "--log-level",
        level,
        "--log-config",
        str(log_config),
        *extra,
        "idp.granian_conf:served_app",
    ]


def served_app() -> Flask:
    """The application as each granian worker runs it: :func:`idp.create_app` and the
    worker's periodic purge thread (under gunicorn, ``post_worker_init`` starts it)."""
    from idp import create_app
    from idp.purger import start_periodic_purge

    app = create_app()
    start_periodic_purge(app)
    return app


def _log_config(kind: str, level: str) -> Path:
    """granian's own lines (start, workers, errors) in the application's format: one JSON
    object per line unless ``IDP_LOG_FORMAT=text``. Written to a file for
    ``--log-config``; granian's access log stays off."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"idp": {"()": "idp.logs.make_formatter", "kind": kind}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "idp",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "idp",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "WARNING", "propagate": False},
        },
    }
    fd, name = tempfile.mkstemp(prefix="idp-granian-log-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle)
    return Path(name)


def _metrics_folder(environ: MutableMapping[str, str]) -> None:
    """With metrics on, every worker writes its figures to one folder that /metrics adds
    up; it starts empty (figures of a previous run would be added)."""
    if environ.get("IDP_METRICS", "").strip().lower() not in {"1", "true", "yes", "on"}:
        return
    folder = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-metrics-")
        return
    path = Path(folder)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
