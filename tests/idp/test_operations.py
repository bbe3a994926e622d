"""Health and metrics (issue 16 item 5; DESIGN §8): /healthz, /readyz and /metrics, which
answered 404 on main."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from alembic import command
from prometheus_client.parser import text_string_to_metric_families

from idp.storage.db import alembic_config, upgrade
from tests.conftest import (
    PASSWORD,
    add_alice,
    csrf_from,
    tokens_for,
)

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}  # TEST-NET-3: not in the default allow-list


def _samples(http, **kwargs) -> dict[tuple[str, tuple], float]:
    response = http.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_is_liveness_only(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "alive"}


def test_readyz_reports_each_check(app):
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "keys": "ok"},
    }


def test_readyz_is_503_while_the_schema_is_behind(app):
    """A host whose database was migrated back (or not yet forward) takes no traffic."""
    upgrade_engine = app.extensions["porta"]["engine"]
    command.downgrade(alembic_config(upgrade_engine), "0007")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] == "failed"
    assert response.get_json()["checks"]["database"] == "ok"
    upgrade(upgrade_engine)
    assert app.test_client().get("/readyz").status_code == 200


def test_readyz_is_503_when_redis_is_configured_but_unreachable(make_app):
    """Shared login throttling needs Redis (PORTA_RATELIMIT_STORAGE_URI): without it the host is
    not ready. Port 9 on 127.0.0.1 (discard) has nothing listening here."""
    app = make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"] == "failed"


def test_readyz_checks_redis_when_configured(make_app):
    url = os.environ.get("PORTA_TEST_REDIS_URL")
    if not url:
        import pytest

        pytest.skip("PORTA_TEST_REDIS_URL is not set")
    app = make_app(RATELIMIT_STORAGE_URI=url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.get_json()["checks"]["redis"] == "ok"


def test_metrics_are_refused_outside_the_allow_list_unless_the_token_is_given(make_app):
    app = make_app(METRICS_TOKEN="scrape-" + "s" * 24)
    http = app.test_client()
    assert http.get("/metrics", environ_base=OUTSIDE).status_code == 403
    wrong = {"Authorization": "Bearer nope"}
    assert http.get("/metrics", environ_base=OUTSIDE, headers=wrong).status_code == 403
    right = {"Authorization": "Bearer scrape-" + "s" * 24}
    assert http.get("/metrics", environ_base=OUTSIDE, headers=right).status_code == 200
    assert http.get("/metrics").status_code == 200  # loopback is in the default allow-list
    closed = make_app(METRICS_ALLOW="")
    assert closed.test_client().get("/metrics").status_code == 403


def test_metrics_count_requests_tokens_consent_logins_and_throttles(make_app, register):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")  # one sign-in for the tokens, two wrong
    add_alice(app)
    http = app.test_client()
    before = _samples(http)
    client = register()
    tokens_for(app.test_client(), client, prompt="consent")
    page = http.get("/login")
    for _ in range(3):  # two wrong passwords, then the throttle
        http.post(
            "/login",
            data={
                "csrf_token": csrf_from(page.get_data(as_text=True)),
                "email": "alice@example.org",
                "password": PASSWORD + "-wrong",
            },
        )
    after = _samples(http)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("porta_tokens_issued_total", grant_type="authorization_code") == 1
    assert grew("porta_consent_decisions_total", state="given") == 1
    assert grew("porta_login_failures_total") == 2
    assert grew("porta_throttled_requests_total", endpoint="authorize.login_submit") == 1
    assert grew(
        "porta_http_requests_total", endpoint="token.token_endpoint", method="POST", status="200"
    ) == 1
    assert grew("porta_http_request_duration_seconds_count", endpoint="token.token_endpoint") == 1
    assert ("porta_http_request_duration_seconds_bucket", (("endpoint", "token.token_endpoint"), ("le", "+Inf"))) in after
    assert _value(after, "porta_outbox_depth", kind="events") >= 0
    assert ("porta_outbox_depth", (("kind", "mail"),)) in after
    for alg in ("ES256", "RS256"):
        assert 0 <= _value(after, "porta_signing_key_age_seconds", alg=alg) < 3600


def test_metrics_sum_every_worker_in_multiprocess_mode(tmp_path):
    """prometheus-client's multiprocess mode (set up by `porta serve`): counters bumped in two
    worker processes are read back, summed, by a third."""
    script = textwrap.dedent(
        """
        import sys
        from multiprocessing import get_context
        from idp.base import metrics

        def worker():
            metrics.TOKENS_ISSUED.labels("refresh_token").inc()

        if __name__ == "__main__":
            ctx = get_context("spawn")
            workers = [ctx.Process(target=worker) for _ in range(2)]
            for process in workers:
                process.start()
            for process in workers:
                process.join(60)
            body, _ = metrics.render([])
            sys.stdout.write(body.decode())
        """
    )
    path = tmp_path / "workers.py"
    path.write_text(script)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert 'porta_tokens_issued_total{grant_type="refresh_token"} 2.0' in result.stdout
