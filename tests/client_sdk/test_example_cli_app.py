"""examples/cli_app — a native app with the loopback redirect (RFC 8252), PKCE and a public client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cli_app_runner import run_cli_app
from porta_live import PORTA_USER

node_launcher = pytest.importorskip("tests.interop.node_op.launcher")


@pytest.fixture(scope="module")
def node_issuer() -> Iterator[str]:
    try:
        node_launcher.ensure_installed()
    except node_launcher.NodeOPError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"node-oidc-provider unavailable: {exc}")
    with node_launcher.node_op() as issuer:
        yield issuer


def test_cli_app_with_dynamic_registration_at_node_oidc_provider(node_issuer: str) -> None:
    profile = run_cli_app(node_issuer, "", {"login": "alice@example.com", "password": "x"})
    assert profile["sub"] == "alice@example.com"
    assert profile["email"] == "alice@example.com"


def test_cli_app_against_porta_with_a_native_public_client(porta: Any) -> None:
    creds = porta.create_client(
        "CLI example", ["http://127.0.0.1/callback"], public=True, extra=["--native"]
    )
    assert "client_secret" not in creds or not creds["client_secret"]
    profile = run_cli_app(
        porta.issuer, creds["client_id"], {"email": PORTA_USER["email"], "password": PORTA_USER["password"]}
    )
    assert profile["email"] == PORTA_USER["email"] and profile["name"] == PORTA_USER["name"]
