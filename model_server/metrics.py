"""Prometheus metrics of the contract: requests by route and code, latency, requests in flight;
and what operators need to see bad clients and unbalanced workers: open connections, requests
that never completed (client hung up, timed out) and requests answered by each worker process.

A request counts once it is answered. Latency covers requests that reached a handler; refusals
by the HTTP layer (400 malformed, 413, 414, 431) count in mlstack_requests_total only.

With several worker processes, prometheus_client's multi-process mode aggregates every worker's
values at scrape time (PROMETHEUS_MULTIPROC_DIR, set by the supervisor before workers start).
Label children are cached: `.labels()` takes a lock and a dict lookup on every call otherwise.
"""

from __future__ import annotations

import os
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Fine-grained below 10 ms: small models answer in about a millisecond.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    def __init__(self, model: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.model = model
        self._registry = registry
        self._multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self._requests = Counter(
            "mlstack_requests",
            "HTTP requests served, by route and status code.",
            ["model", "route", "code"],
            registry=registry,
        )
        self._duration = Histogram(
            "mlstack_request_duration_seconds",
            "Time from request start to response sent, by route.",
            ["model", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._in_flight = Gauge(
            "mlstack_requests_in_flight",
            "Requests being handled right now.",
            ["model"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.in_flight = self._in_flight.labels(model)
        self._connections = Gauge(
            "mlstack_connections",
            "Client connections open right now.",
            ["model"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.connections = self._connections.labels(model)
        self._incomplete = Counter(
            "mlstack_incomplete_requests",
            "Requests never completed by the client: it closed mid-request (eof) or was too "
            "slow (timeout).",
            ["model", "reason"],
            registry=registry,
        )
        # One series per worker process: shows how the kernel spreads connections over workers.
        self._worker = Counter(
            "mlstack_worker_requests",
            "Requests answered, by worker process id.",
            ["model", "pid"],
            registry=registry,
        ).labels(model, str(os.getpid()))
        self._counters: dict[tuple[str, int], Counter] = {}
        self._histograms: dict[str, Histogram] = {}

    def count(self, route: str, code: int) -> None:
        """An answered request (the HTTP layer's refusals: no latency observed)."""
        counter = self._counters.get((route, code))
        if counter is None:
            counter = self._counters[(route, code)] = self._requests.labels(
                self.model, route, str(code)
            )
        counter.inc()
        self._worker.inc()

    def observe(self, route: str, code: int, seconds: float) -> None:
        """An answered request that reached its handler, and how long it took."""
        self.count(route, code)
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = self._duration.labels(self.model, route)
        histogram.observe(seconds)

    def incomplete(self, reason: str) -> None:
        self._incomplete.labels(self.model, reason).inc()

    def render(self) -> bytes:
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
            return generate_latest(registry)
        return generate_latest(self._registry)
