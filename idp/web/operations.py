"""Endpoints for the operator's tooling, not for people or relying parties: liveness,
readiness and Prometheus metrics (DESIGN §8: ``/healthz``, ``/readyz``, ``/metrics`` on
every host)."""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, current_app, request

from idp.base import metrics
from idp.base.clock import now
from idp.keys import ALGORITHMS, current_signer
from idp.web.common import json_response, store

bp = Blueprint("operations", __name__)


@bp.route("/healthz", methods=["GET"])
def healthz() -> Response:
    """Liveness: the process answers. Touches nothing else, so a database outage does not make
    an orchestrator restart healthy workers (readiness is /readyz)."""
    return json_response({"status": "alive"})


def _checks() -> dict[str, str]:
    """Each readiness condition: "ok" or "failed" (reasons go to the log, not the response)."""
    porta = current_app.extensions["porta"]
    results: dict[str, str] = {}

    def check(name: str, probe) -> None:
        try:
            results[name] = "ok" if probe() else "failed"
        except Exception:
            current_app.logger.warning("readiness check %s failed", name, exc_info=True)
            results[name] = "failed"

    check("database", lambda: store().ping() is None)
    check("migrations", lambda: store().schema_revision() == porta["schema_head"])

    def keys_loaded() -> bool:
        loaded = porta["keys"].loaded()
        return all(current_signer(loaded, alg, now()) is not None for alg in ALGORITHMS)

    check("keys", keys_loaded)
    if porta["settings"].ratelimit_storage_uri.startswith(("redis", "rediss")):
        check("redis", lambda: porta["limiter"].storage.check())
    return results


@bp.route("/readyz", methods=["GET"])
def readyz() -> Response:
    """Readiness: 200 when the database answers, its schema is the newest migration, the
    signing keys are loaded and (when configured) Redis answers; 503 otherwise, so the load
    balancer sends no traffic here meanwhile."""
    results = _checks()
    ready = all(value == "ok" for value in results.values())
    response = json_response(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
    return response


def _metrics_allowed() -> bool:
    """PORTA_METRICS_TOKEN as a bearer token (RFC 6750 §2.1), or a client address in
    PORTA_METRICS_ALLOW."""
    settings = current_app.extensions["porta"]["settings"]
    if settings.metrics_token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.metrics_allow.split()
    )


@bp.route("/metrics", methods=["GET"])
def metrics_endpoint() -> Response:
    """Prometheus exposition: the counters of every worker plus gauges read now (outbox depth,
    signing-key age). Refused (403) unless allowed by PORTA_METRICS_ALLOW / _TOKEN."""
    if not _metrics_allowed():
        return json_response({"error": "forbidden"}, status=403)
    porta = current_app.extensions["porta"]
    moment = now()
    loaded = porta["keys"].loaded()
    ages = {}
    for alg in ALGORITHMS:
        signer = current_signer(loaded, alg, moment)
        if signer is not None:
            ages[alg] = (moment - signer.created_at).total_seconds()
    snapshot = [
        metrics.gauge(
            "porta_outbox_depth",
            "Deliveries waiting in the outbox, by kind (events, mail).",
            "kind",
            dict(store().outbox_depth()),
        ),
        metrics.gauge(
            "porta_signing_key_age_seconds",
            "Age of the key that signs now, by algorithm.",
            "alg",
            ages,
        ),
    ]
    body, content_type = metrics.render(snapshot)
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
