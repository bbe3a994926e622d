"""Fixtures for the browser tests: one `porta serve`, the system Chromium driven by Playwright.

Nothing is downloaded: Playwright launches /usr/bin/chromium (``apt-get install chromium``
in .ci/run). The relying party is played by the test itself: its redirect_uri points at a
127.0.0.1 port where nothing listens, and the browser's navigation there is answered by a
Playwright route, so the test sees exactly what the RP would have received.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.live import LivePorta, free_port

CHROMIUM = Path(os.environ.get("PORTA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SCREENSHOT_PREFIXES = ("mouse", "keyboard")  # one per test of test_person_pages.py
TIMEOUT_MS = 5_000  # every Playwright wait is bounded by this


@dataclass
class Person:
    email: str
    password: str
    name: str


@dataclass
class Deployment:
    """The running Porta, its endpoints, the people and the confidential client."""

    server: LivePorta
    client_id: str
    client_secret: str
    client_name: str
    redirect_uri: str
    people: dict[str, Person]
    endpoints: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def porta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One `porta serve`, two people and one confidential client, all made with the CLI."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install the system Chromium (apt-get install chromium)")
    server = LivePorta(tmp_path_factory.mktemp("browser"))
    people = {
        "mouse": Person("mira@example.org", "mira-password-1", "Mira Mouse"),
        "keyboard": Person("kai@example.org", "kai-password-1", "Kai Keys"),
    }
    for person in people.values():
        server.create_user(person.email, person.password, person.name)
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"  # nothing listens there
    client_name = "Corner Bookshop"
    creds = server.create_client("--name", client_name, "--redirect-uri", redirect_uri)
    server.start()
    try:
        endpoints = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10).json()
        yield Deployment(
            server=server,
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
            client_name=client_name,
            redirect_uri=redirect_uri,
            people=people,
            endpoints=endpoints,
        )
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium(porta: Deployment) -> Iterator[Any]:
    """The system Chromium, headless; closed (and Playwright's driver stopped) afterwards."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is missing")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
    except Exception:
        playwright.stop()
        raise
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and one page in it, with short timeouts."""
    context = chromium.new_context(viewport={"width": 1000, "height": 800}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the step screenshots go (test-artifacts/ is git-ignored; CI keeps it).

    Pictures these tests left there on an earlier run are removed first, so the
    directory shows this run only.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for prefix in SCREENSHOT_PREFIXES:
        for old in SCREENSHOTS.glob(f"{prefix}-*.png"):
            old.unlink()
    return SCREENSHOTS
