"""Pausing for a provider that throttles the suite (RFC 6585 §4, RFC 9110 §10.2.3).

A test suite logs in and redeems codes far faster than a person, and a provider that
limits the rate of logins (as RFC 9700 §4.x brute-force defences advise) answers HTTP 429,
or 503 with Retry-After. That is not a protocol failure: the request is repeated after the
advertised pause, as long as the test's pause budget (op.toml ``timing.throttle_wait_s``)
lasts; then the test ends with the distinct verdict ``throttled``.
"""

from __future__ import annotations

import email.utils
import threading
import time
from typing import Any

import requests

from conformance_tests.registry import Throttled

DEFAULT_PAUSE_S = 1.0
"""Pause when a 429 carries no usable Retry-After."""

MAX_ATTEMPTS = 10
"""Throttling answers to one request before giving up, whatever the budget left."""


def retry_after(response: requests.Response) -> float | None:
    """Seconds to wait from Retry-After (delay-seconds or an HTTP-date), None if absent."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_throttled(response: requests.Response) -> bool:
    """HTTP 429, or 503 with Retry-After."""
    return response.status_code == 429 or (response.status_code == 503 and "retry-after" in response.headers)


class Throttle:
    """One run's pause budget, renewed for each test."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.waited_s = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        """A new test: the whole budget is available again."""
        with self._lock:
            self.waited_s = 0.0

    def send(self, session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``session.request`` repeated after each throttling answer while the budget lasts.

        Raises :class:`Throttled` naming the URL, the status and the time waited when it
        does not.
        """
        attempts = 0
        while True:
            response = session.request(method, url, **kwargs)
            if not is_throttled(response):
                return response
            attempts += 1
            pause = retry_after(response)
            pause = DEFAULT_PAUSE_S if pause is None else pause
            with self._lock:
                left = self.budget_s - self.waited_s
                if pause > left or attempts >= MAX_ATTEMPTS:
                    raise Throttled(
                        f"the provider throttled the suite: HTTP {response.status_code} for {method} "
                        f"{url.split('?')[0]} (Retry-After {response.headers.get('retry-after', 'absent')!r}) "
                        f"{attempts} time{'s' if attempts != 1 else ''}, after {self.waited_s:.0f} s of pauses in "
                        f"this test (timing.throttle_wait_s = "
                        f"{self.budget_s:.0f}); raise the provider's rate limits for the test account")
                self.waited_s += pause
            time.sleep(pause)
