"""The service's Prometheus metrics (prometheus-client): requests by endpoint and status, a
latency histogram, the model version served and the new versions that failed to load.

With several worker processes (`serve --workers N`), PROMETHEUS_MULTIPROC_DIR is set by the
command and every worker writes there, so `/metrics` from any worker counts them all.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MEDIA_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self._multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        # Multiprocess values live in files; otherwise a registry per app (tests run several).
        registry = None if self._multiprocess else CollectorRegistry()
        self._registry = registry
        self.requests = Counter(
            "shop_requests",
            "Requests answered, by endpoint and status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "shop_request_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.model_version = Gauge(
            "shop_model_version",
            "The registry version of the model answering (-1: none).",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.load_failures = Counter(
            "shop_model_load_failures",
            "New model versions that failed to load or embed; the old pair kept serving.",
            registry=registry,
        )
        self.model_version.set(-1)

    def exposition(self) -> bytes:
        if not self._multiprocess:
            assert self._registry is not None
            return generate_latest(self._registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
