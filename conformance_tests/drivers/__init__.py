"""Login drivers: ``form`` (HTTP + HTML forms) and ``browser`` (Chromium via Playwright)."""

from __future__ import annotations

from conformance_tests.config import OPConfig
from conformance_tests.drivers.base import BrowserSession, Driver, Outcome

__all__ = ["BrowserSession", "Driver", "Outcome", "make_driver"]


def make_driver(config: OPConfig) -> Driver:
    """The driver op.toml's ``login.driver`` names (Playwright is imported only if needed)."""
    if config.login.driver == "browser":
        from conformance_tests.drivers.browser import BrowserDriver

        return BrowserDriver(config.username, config.password, config.login, config.http_timeout_s)
    from conformance_tests.drivers.form import FormDriver

    return FormDriver(config.username, config.password, config.login, config.http_timeout_s)
