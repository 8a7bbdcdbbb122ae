"""Prometheus metrics of the HTTP edge, in a registry owned by one app (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("corral_http_requests", "HTTP requests served",
                                ["method", "status"], registry=self.registry)
        self.latency = Histogram("corral_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ["method"],
                                 registry=self.registry)

    def observe(self, method: str, status: int, seconds: float) -> None:
        self.requests.labels(method, str(status)).inc()
        self.latency.labels(method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
