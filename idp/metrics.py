"""Optional Prometheus metrics at ``/metrics`` (``IDP_METRICS=1``, prometheus-client).

Counters: sign-ins by outcome and channel, tokens issued by grant type, throttling
events by counter kind, Redis fallbacks by purpose; a histogram of request latency by
endpoint. Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (``idp/gunicorn_conf.py`` does)
so that every worker's figures are added up in one answer.

Who may read them: addresses in ``IDP_METRICS_NETWORKS`` (default loopback), or anyone
sending ``Authorization: Bearer <IDP_METRICS_TOKEN>``. Everyone else gets 404, as when
metrics are off. No label ever holds a card number, address or secret.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import TYPE_CHECKING

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import current_app
from flask import has_app_context
from flask import request

from idp.settings import app_settings
from idp.settings.sections import MetricsSettings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client import Counter
    from prometheus_client import Histogram

#: Where the application keeps its metrics (``app.extensions``), when they are on.
EXTENSION = "idp_metrics"
#: Latency buckets in seconds: the JSON endpoints answer in a few ms, logins in ~100 ms.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

bp = Blueprint("metrics", __name__)


class Metrics:
    """The metrics of one application (an own registry, so tests may build many apps)."""

    def __init__(self) -> None:
        # Imported here: a server without metrics does not load prometheus-client.
        from prometheus_client import CollectorRegistry
        from prometheus_client import Counter
        from prometheus_client import Histogram

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        # One declaration per series (name, help text, labels): alike in shape only.
        self.logins: Counter = Counter(
            "idp_logins",
            "Password checks by outcome (ok, invalid_credentials, throttled, locked, …).",
            ["outcome", "channel"],
            registry=self.registry,
        )
        self.tokens: Counter = Counter(
            "idp_tokens_issued",
            "Tokens issued by the token endpoint, by grant type.",
            ["grant_type"],
            registry=self.registry,
        )
        self.throttle_events: Counter = Counter(
            "idp_throttle_events",
            "Attempts refused by a throttle or request limit, by counter kind.",
            ["kind"],
            registry=self.registry,
        )
        self.redis_fallbacks: Counter = Counter(
            "idp_redis_fallbacks",
            "Operations that used the fallback because Redis did not answer.",
            ["purpose"],
            registry=self.registry,
        )
        self.latency: Histogram = Histogram(
            "idp_request_duration_seconds",
            "Request latency by endpoint (the Flask endpoint name) and method.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every worker's metrics (multiprocess mode) or this one's."""
        from prometheus_client import CONTENT_TYPE_LATEST
        from prometheus_client import CollectorRegistry
        from prometheus_client import generate_latest
        from prometheus_client import multiprocess

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def current_metrics() -> Metrics | None:
    """The application's metrics, or None when they are off (or outside an app)."""
    if not has_app_context():
        return None
    found: Metrics | None = current_app.extensions.get(EXTENSION)
    return found


def _is_allowed(settings: MetricsSettings) -> bool:
    token = settings.token or ""
    header = request.headers.get("Authorization", "")
    if (
        token
        and header[:7].lower() == "bearer "
        and hmac.compare_digest(header[7:].strip().encode(), token.encode())
    ):
        return True
    # idp.services.networks.address_in says the same, but this module sits below the
    # services (they count into it), so it cannot import them: the four lines stay here.
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.networks)


@bp.route("/metrics")
def metrics() -> Response:
    """Prometheus text format, for allowed scrapers only."""
    found = current_metrics()
    if found is None or not _is_allowed(app_settings(current_app).metrics):
        abort(404)
    body, content_type = found.exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Create the metrics and the ``/metrics`` route when ``IDP_METRICS`` is on."""
    if not app_settings(app).metrics.enabled:
        return
    app.extensions[EXTENSION] = Metrics()
    app.register_blueprint(bp)
