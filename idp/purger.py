"""The periodic purge inside the server: a background thread per worker process.

Every worker wakes once per ``IDP_PURGE_INTERVAL`` and tries to take the purge lease
(:func:`idp.services.purge.take_lease`); the one that gets it purges, the others go back
to sleep. So however many workers and nodes share the database, the purge runs about
once per interval, on one of them, in small batches. ``idp serve`` starts the thread in
each worker (idp/granian_conf.py, idp/gunicorn_conf.py); ``idp purge`` runs the same purge by hand.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import db
from idp.services.container import container
from idp.services.purge import PURGE_LEASE
from idp.services.purge import holder_name
from idp.services.purge import purge
from idp.services.purge import take_lease
from idp.settings import app_settings

log = logging.getLogger(__name__)

#: The first attempt comes this soon after a worker starts (at most the interval).
_FIRST_WAIT = 60.0


class PeriodicPurge(threading.Thread):
    """Purges every ``interval`` seconds when this process holds the lease."""

    def __init__(self, app: Flask, interval: int) -> None:
        super().__init__(name="idp-purge", daemon=True)
        self.app = app
        self.interval = interval
        self.holder = holder_name()
        self._stopped = threading.Event()

    def run(self) -> None:
        wait = min(_FIRST_WAIT, float(self.interval))
        while not self._stopped.wait(wait):
            self.run_once()
            wait = float(self.interval)

    def stop(self) -> None:
        """Stop after the current run."""
        self._stopped.set()

    def run_once(self) -> dict[str, int] | None:
        """Purge if the lease is free; return the counts, or None when another holds it."""
        with self.app.app_context():
            try:
                now = container().now()
                if not take_lease(PURGE_LEASE, now, self.interval, self.holder):
                    return None
                counts = purge(now, app_settings(self.app))
            except SQLAlchemyError:
                # The database is away; the next interval tries again.
                log.warning("periodic purge failed", exc_info=True)
                db.session.rollback()
                return None
            finally:
                db.session.remove()
        log.info("purged expired data", extra={"purged": counts})
        return counts


def start_periodic_purge(app: Flask) -> PeriodicPurge | None:
    """Start the purge thread of this process, unless ``IDP_PURGE_INTERVAL`` is 0."""
    interval = app_settings(app).purge.interval
    if interval <= 0:
        return None
    thread = PeriodicPurge(app, interval)
    thread.start()
    return thread
