"""Prometheus metrics of the HTTP edge, in a registry owned by one app (no globals).

Every request on every route is counted and timed by method, route template (never the
raw path: its values are unbounded) and status, by the envelope (api/envelope.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LABELS = ("method", "route", "status")


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("corral_http_requests", "HTTP requests served",
                                LABELS, registry=self.registry)
        self.latency = Histogram("corral_http_request_duration_seconds",
                                 "Time to answer an HTTP request", LABELS,
                                 registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(method, route, code).inc()
        self.latency.labels(method, route, code).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
