"""Fixtures for the client_sdk tests: a purpose-built fake provider, a live Porta, node-oidc-provider.

The repository root goes on ``sys.path`` so ``client_sdk``, ``examples`` and the interop
launcher (``tests.interop.node_op.launcher``) import without installing the project.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from sdk_fake_op import FakeProvider  # noqa: E402


@pytest.fixture(scope="session")
def fake_op_server() -> Iterator[FakeProvider]:
    """One fake provider for the session, served by a thread on 127.0.0.1; shut down at the end."""
    provider = FakeProvider()
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def fake_op(fake_op_server: FakeProvider) -> FakeProvider:
    """The fake provider, reset to its default behaviour for each test."""
    fake_op_server.reset()
    return fake_op_server



@pytest.fixture(scope="session")
def porta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A live Porta on 127.0.0.1 with one person (``porta_live.PORTA_USER``); skipped until idp.cli exists."""
    import porta_live

    reason = porta_live.available()
    if reason:
        pytest.skip(f"live Porta not available: {reason}")
    with porta_live.porta_server(tmp_path_factory.mktemp("porta")) as server:
        user = porta_live.PORTA_USER
        server.create_user(user["email"], user["name"], user["password"])
        yield server
