"""gunicorn settings for production: ``gunicorn -c python:idp.gunicorn_conf 'idp:create_app()'``.

``idp serve`` runs exactly that. The same settings as the application
(:mod:`idp.settings`, read and checked by :func:`idp.granian_conf.serve_settings`):
``IDP_BIND``, ``IDP_WORKERS`` (0: 2 × cores + 1), ``IDP_THREADS`` (more than 1: threaded
workers, which keep connections alive), ``IDP_GRACEFUL_TIMEOUT``, ``IDP_LOG_FORMAT``
(``json`` by default here) and ``IDP_LOG_LEVEL``, ``IDP_METRICS``.

gunicorn's own access log is off: the application writes one line per request with its
request id (:mod:`idp.logs`). ``kill -HUP`` on the master restarts the workers gracefully
(new code and configuration, no dropped request); ``kill -TERM`` stops after the running
requests finish, waiting at most the graceful timeout.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from idp.granian_conf import serve_settings
from idp.granian_conf import worker_count

# Production logs are JSON unless the operator asks for text.
_SETTINGS = serve_settings(os.environ)

bind = _SETTINGS.server.bind
workers = worker_count(_SETTINGS.server)
threads = _SETTINGS.server.threads
graceful_timeout = _SETTINGS.server.graceful_timeout
# A request that runs longer than this is stuck: its worker is replaced.
timeout = 30
keepalive = 5
# Each worker builds its own application (own database pool, own Redis client).
preload_app = False
# Several installations may run on one host; operators use signals, not gunicornc.
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = _SETTINGS.logs.level.lower()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    # The application installs its own handler on the root logger (idp.logs).
    "root": {"level": loglevel.upper(), "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "idp",
            "stream": "ext://sys.stderr",
        }
    },
    "formatters": {
        "idp": {"()": "idp.logs.make_formatter", "kind": _SETTINGS.logs.format},
    },
}

_METRICS = _SETTINGS.metrics.enabled
if _METRICS and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus-client reads this before the workers import it: every worker writes its
    # figures there and /metrics adds them up.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-metrics-")


def on_starting(server: Any) -> None:
    """Start with empty metric files (figures of a previous run would be added)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if _METRICS and folder:
        path = Path(folder)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Forget a dead worker's live gauges (counters and histograms are kept)."""
    if _METRICS and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_worker_init(worker: Any) -> None:
    """Start the worker's periodic purge (idp/purger.py; ``IDP_PURGE_INTERVAL``)."""
    from flask import Flask

    from idp.purger import start_periodic_purge

    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask):
        start_periodic_purge(app)
