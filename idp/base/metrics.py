"""The provider's Prometheus metrics (exposition format 0.0.4), one definition each.

Counters and histograms are bumped where things happen (the web layer for requests, tokens
and throttles; the consent layer for ledger decisions and event deliveries). Under
``porta serve`` every worker writes them to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
:mod:`idp.server` before the workers start: prometheus-client's multiprocess mode) and
``/metrics`` sums them over all workers. Values read from the database at scrape time (outbox
depth, key age) are the same for every worker and are added by :func:`render`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

# Metrics of this process, kept out of the global registry so that nothing else lands in it.
REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "porta_http_requests",
    "HTTP requests answered, by Flask endpoint, method and status code.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "porta_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint.",
    ["endpoint"],
    registry=REGISTRY,
)
TOKENS_ISSUED = Counter(
    "porta_tokens_issued",
    "Successful token responses (RFC 6749 §5.1), by grant type.",
    ["grant_type"],
    registry=REGISTRY,
)
CONSENT_DECISIONS = Counter(
    "porta_consent_decisions",
    "Consent records appended to the ledger, by state (given, refused, narrowed, withdrawn…).",
    ["state"],
    registry=REGISTRY,
)
DELIVERY_FAILURES = Counter(
    "porta_event_delivery_failures",
    "Push deliveries (RFC 8935) that did not succeed, by outcome: retry or failed (given up).",
    ["outcome"],
    registry=REGISTRY,
)
LOGIN_FAILURES = Counter(
    "porta_login_failures", "Sign-in attempts with a wrong email or password.", registry=REGISTRY
)
THROTTLED = Counter(
    "porta_throttled_requests",
    "Requests refused with 429 by the login/import rate limit, by endpoint.",
    ["endpoint"],
    registry=REGISTRY,
)


class _Snapshot:
    """A collector that yields metric families computed once, at scrape time."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def gauge(name: str, documentation: str, label: str | None, values: dict[str, float]) -> Metric:
    """A gauge family for :func:`render`: one sample per label value (or one unlabelled)."""
    family = GaugeMetricFamily(name, documentation, labels=[label] if label else None)
    for key, value in values.items():
        family.add_metric([key] if label else [], value)
    return family


def render(snapshot: Iterable[Metric]) -> tuple[bytes, str]:
    """The exposition document: every worker's counters (multiprocess mode) or this
    process's, followed by the scrape-time gauges. Returns (body, content type)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    extra = CollectorRegistry()
    extra.register(_Snapshot(snapshot))
    return generate_latest(counted) + generate_latest(extra), CONTENT_TYPE_LATEST
