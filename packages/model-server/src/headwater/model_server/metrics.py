"""Prometheus metrics of one server, served at TF Serving's /monitoring/prometheus/metrics.

Each server owns its own `CollectorRegistry`, so several servers in one process (tests,
notebooks) never share counts. Request counts and latency per model, signature, API and
protocol; load, failed-load and unload events per model; the sizes of the batches run.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["METRICS_CONTENT_TYPE", "METRICS_PATH", "ServerMetrics"]

METRICS_PATH = "/monitoring/prometheus/metrics"
"""TF Serving's path of its Prometheus endpoint (on the REST port)."""
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class ServerMetrics:
    """The counters and histograms one model server updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "headwater_model_server_requests",
            "Requests answered, by model, signature, API, protocol and TF Serving status code.",
            ["model", "signature", "api", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "headwater_model_server_request_latency_seconds",
            "Time from a request's arrival to its answer, by model, signature, API and protocol.",
            ["model", "signature", "api", "protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_events = Counter(
            "headwater_model_server_model_events",
            "Model version loads, failed loads and unloads, by model.",
            ["model", "event"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "headwater_model_server_batch_size",
            "Examples per model call when batching is on, by model and signature.",
            ["model", "signature"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        # `labels(...)` validates and hashes on every call; children never go away, so keep them.
        self._request_children: dict[tuple[str, ...], tuple[Any, Any]] = {}
        self._batch_children: dict[tuple[str, str], Any] = {}

    def observe_request(
        self, *, model: str, signature: str, api: str, protocol: str, status: str, seconds: float
    ) -> None:
        """Count one answered request and its latency."""
        key = (model, signature, api, protocol, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(model, signature, api, protocol, status),
                self.latency.labels(model, signature, api, protocol),
            )
        children[0].inc()
        children[1].observe(seconds)

    def model_event(self, model: str, event: str) -> None:
        """Count a load ("loaded"), a failed load ("load_failed") or an unload ("unloaded")."""
        self.model_events.labels(model, event).inc()

    def observe_batch(self, *, model: str, signature: str, size: int) -> None:
        """Record the size of one batched model call."""
        child = self._batch_children.get((model, signature))
        if child is None:
            child = self._batch_children[(model, signature)] = self.batch_size.labels(
                model, signature
            )
        child.observe(size)

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)
