"""Fixtures for the conformance suite's own tests.

The repository root goes on ``sys.path`` so ``tests.interop.node_op.launcher`` and
``tests.conformance.broken_op`` import the same way under ``pytest`` and ``python -m pytest``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.conformance.broken_op.server import BrokenOP, broken_op  # noqa: E402

# pytester is enabled in the top-level tests/conftest.py (pytest allows pytest_plugins only there).


def write_op_toml(path: Path, data: dict[str, Any]) -> Path:
    """Write an op.toml and return its path."""
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


@pytest.fixture(scope="session")
def broken() -> Iterator[BrokenOP]:
    """The broken test provider, all faults off; tests switch one on and must switch it off."""
    with broken_op() as double:
        yield double


@pytest.fixture
def broken_config(broken: BrokenOP, tmp_path: Path) -> Path:
    """op.toml for the double (clients by dynamic registration, form driver)."""
    from tests.conformance.broken_op.app import PASSWORD, USERNAME

    return write_op_toml(tmp_path / "op.toml", {
        "issuer": broken.issuer,
        "user": {"username": USERNAME, "password": PASSWORD},
        # The double pushes SETs before answering the withdrawal: no need to wait long.
        "timing": {"event_wait_s": 1, "code_reuse_wait_s": 1},
        # The double claims RFC 9700, so its SHOULDs that the BCP relies on are MUSTs here.
        "provider": {"conforms_to": ["rfc9700"]},
    })


IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
"""CI sets CI=true: there every prerequisite must be present, so nothing is skipped for lack of one."""


def require_tool(present: bool, what: str) -> None:
    """Skip for a missing optional external tool (node, Chromium) on a developer's machine;
    in CI fail instead: a test that skips when what it needs is missing hides a regression."""
    if present:
        return
    if IN_CI:
        pytest.fail(f"{what}; CI must provide it (CI=true: a skip here would hide a regression)", pytrace=False)
    pytest.skip(what)


def chromium_available() -> bool:
    """True when Playwright and the system Chromium the browser driver uses are present."""
    import importlib.util

    return importlib.util.find_spec("playwright") is not None and os.path.exists("/usr/bin/chromium")


BROWSER_PLAN = "oidcc-server,oidcc-prompt-login,porta-form-post-server,oidcc-rp-initiated-logout,rfc9700-clickjacking-login"
"""A few tests that exercise every browser-driver path: login, consent, form_post, logout."""
