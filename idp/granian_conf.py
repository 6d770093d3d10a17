"""granian command line for production: what ``idp serve`` runs by default.

granian (a Rust HTTP server) answers the same WSGI application as gunicorn with far
less work per request (docs/performance.md); ``IDP_SERVER=gunicorn`` keeps gunicorn
(:mod:`idp.gunicorn_conf`). Both read the same settings as the application
(:mod:`idp.settings`: the ``server``, ``logs`` and ``metrics`` sections), checked the
same way: ``IDP_BIND``, ``IDP_WORKERS`` (0: 2 × cores + 1), ``IDP_THREADS`` (blocking
threads per worker), ``IDP_GRACEFUL_TIMEOUT``, ``IDP_LOG_FORMAT`` (``json`` by default
here), ``IDP_LOG_LEVEL`` and ``IDP_METRICS``. granian's own access log is off: the
application writes one line per request (:mod:`idp.logs`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

from idp.settings import Settings
from idp.settings import load_settings
from idp.settings.sections import ServerSettings

if TYPE_CHECKING:
    from flask import Flask


#: glibc's malloc asks for transparent huge pages for the blocks it maps (glibc ≥ 2.35).
HUGE_PAGES = "glibc.malloc.hugetlb=1"


def serve_settings(environ: MutableMapping[str, str]) -> Settings:
    """The settings ``idp serve`` runs with, from ``environ``: JSON log lines unless
    ``IDP_LOG_FORMAT`` says otherwise, and huge pages for big blocks (both set in
    ``environ`` so that the server and its workers inherit them).

    :raises idp.settings.ConfigError: naming a setting that cannot be used.
    """
    environ.setdefault("IDP_LOG_FORMAT", "json")
    with_huge_pages(environ)
    return load_settings(environ)


def with_huge_pages(environ: MutableMapping[str, str]) -> None:
    """Add :data:`HUGE_PAGES` to ``GLIBC_TUNABLES`` unless it already names that tunable.

    Every sign-in maps one Argon2 block (9 MiB by default; see
    :func:`idp.services.passwords.return_big_blocks_to_the_system`). In 4 KiB pages the
    kernel faults in and zeroes 2,300 of them each time: ~3 ms of system time on top of a
    ~15 ms hash (~12 ms for OWASP's 19 MiB row). Mostly in 2 MiB pages it is ~770 faults
    (~1.2 ms). Where the kernel's transparent
    huge pages are off, or glibc is older or absent, the setting changes nothing. Read
    by glibc when a process starts, hence set here, before the server starts.
    """
    current = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" not in current:
        environ["GLIBC_TUNABLES"] = f"{current}:{HUGE_PAGES}" if current else HUGE_PAGES


def worker_count(server: ServerSettings) -> int:
    """``IDP_WORKERS``, where 0 means 2 × cores + 1."""
    return server.workers or multiprocessing.cpu_count() * 2 + 1


def chosen_server(environ: MutableMapping[str, str]) -> str:
    """``IDP_SERVER``: ``granian`` (default) or ``gunicorn``."""
    return serve_settings(environ).server.server


def granian_args(environ: MutableMapping[str, str], extra: tuple[str, ...] = ()) -> list[str]:
    """``python -m granian …`` arguments for :func:`served_app` (a factory).

    Also prepares the environment the workers inherit: JSON logs unless asked
    otherwise, and a fresh metrics folder when metrics are on.
    """
    settings = serve_settings(environ)
    _metrics_folder(environ, settings.metrics.enabled)
    host, _, port = settings.server.bind.rpartition(":")
    level = settings.logs.level.lower()
    log_config = _log_config(settings.logs.format, level.upper())
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
        str(worker_count(settings.server)),
        "--blocking-threads",
        str(settings.server.threads),
        "--workers-kill-timeout",
        str(settings.server.graceful_timeout),
        "--respawn-failed-workers",
        *_connections_per_worker(settings.server),
        "--no-ws",
        "--no-access-log",
        "--log-level",
        level,
        "--log-config",
        str(log_config),
        *extra,
        "idp.granian_conf:served_app",
    ]


def _connections_per_worker(server: ServerSettings) -> list[str]:
    """``--backpressure`` (granian's name for it) when ``IDP_WORKER_CONNECTIONS`` is set."""
    if not server.worker_connections:
        return []
    return ["--backpressure", str(server.worker_connections)]


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


def _metrics_folder(environ: MutableMapping[str, str], enabled: bool) -> None:
    """With metrics on, every worker writes its figures to one folder that /metrics adds
    up; it starts empty (figures of a previous run would be added)."""
    if not enabled:
        return
    folder = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-metrics-")
        return
    path = Path(folder)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
