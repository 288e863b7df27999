"""Prometheus metrics: request counts and latency per endpoint, predictions per label."""

from __future__ import annotations

import os
import time

from flask import g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# Label values are bounded: an invented method or path must not add a series per request.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The app's metric objects; in a gunicorn fleet, aggregated over every worker."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("tagsim_requests", "HTTP requests", ["endpoint", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("tagsim_request_seconds", "Request latency", ["endpoint"],
                                 buckets=BUCKETS, registry=self.registry)
        self.predictions = Counter("tagsim_predictions", "Labels predicted", ["head", "label"],
                                   registry=self.registry)

    def count_labels(self, answer, heads):
        """Count the labels of one tag answer of a model with these heads."""
        for head in heads:
            chosen = answer.get(head.name)
            for item in chosen if isinstance(chosen, list) else [chosen]:
                if item:
                    self.predictions.labels(head.name, item["label"]).inc()

    def exposition(self):
        """(body, content type) of the /metrics answer."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def install(self, app):
        """Time and count every request."""

        @app.before_request
        def start_timer():
            g.started = time.perf_counter()

        @app.after_request
        def record(response):
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            method = request.method if request.method in METHODS else "other"
            self.requests.labels(endpoint, method, str(response.status_code)).inc()
            if "started" in g:
                self.latency.labels(endpoint).observe(time.perf_counter() - g.started)
            return response
