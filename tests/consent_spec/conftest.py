"""Markers used by the consent_spec tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs a second implementation under Node.js (npm ci on first use)")
