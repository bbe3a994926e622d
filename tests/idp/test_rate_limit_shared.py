"""Login throttling shared by every worker through Redis (PORTA_RATELIMIT_STORAGE_URI).

Two app instances stand for two server workers or hosts: with redis:// storage
the attempts on one count against the other, which `memory://` cannot do.
Runs when PORTA_TEST_REDIS_URL points at a real Redis (.ci/run sets it).
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import csrf_from

REDIS_URL = os.environ.get("PORTA_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="PORTA_TEST_REDIS_URL is not set")


def _attempt(http) -> int:
    page = http.get("/login").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "email": "nobody@example.org", "password": "wrong-password"}
    return http.post("/login", data=form).status_code


def test_login_attempts_are_counted_across_workers(make_app):
    import redis

    # A key prefix of our own so parallel runs and other tests never share counters.
    prefix = f"porta-test-{uuid.uuid4().hex}"
    settings = {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "LOGIN_RATE_LIMIT": "3 per minute",
    }
    worker_a = make_app(**settings)
    worker_b = make_app(**settings)
    for app in (worker_a, worker_b):
        app.config["RATELIMIT_KEY_PREFIX"] = prefix
        app.extensions["porta"]["limiter"].init_app(app)
    a, b = worker_a.test_client(), worker_b.test_client()
    try:
        assert [_attempt(a), _attempt(b), _attempt(a)] == [401, 401, 401]
        assert _attempt(b) == 429  # the fourth attempt, on the other worker
        assert _attempt(a) == 429
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
