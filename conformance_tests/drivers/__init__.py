"""Login drivers: ``form`` (HTTP + HTML forms) and ``browser`` (Chromium via Playwright)."""

from __future__ import annotations

from urllib.parse import urlsplit

from conformance_tests.config import OPConfig
from conformance_tests.drivers.base import BrowserSession, Driver, Outcome

__all__ = ["BrowserSession", "Driver", "Outcome", "make_driver"]


def make_driver(config: OPConfig) -> Driver:
    """The driver op.toml's ``login.driver`` names (Playwright is imported only if needed)."""
    if config.login.driver == "browser":
        from conformance_tests.drivers.browser import BrowserDriver

        uris = [u for c in (config.client, config.public_client) if c is not None
                for u in (c.redirect_uri, c.post_logout_redirect_uri) if u]
        ports = {urlsplit(u).port for u in uris} - {None}
        return BrowserDriver(config.username, config.password, config.login, config.http_timeout_s,
                             allowed_ports=ports)  # type: ignore[arg-type]
    from conformance_tests.drivers.form import FormDriver

    return FormDriver(config.username, config.password, config.login, config.http_timeout_s)
