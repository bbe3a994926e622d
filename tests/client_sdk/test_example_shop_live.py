"""examples/shop run as its documented command (``python -m examples.shop``) against a live Porta."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from porta_live import PORTA_USER, ROOT, free_port
from sdk_browser import parse_forms


@pytest.fixture(scope="module")
def shop(porta: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    creds = porta.create_client(
        "Porta Shop (test)", [base + "/callback"], post_logout_redirect_uris=[base + "/"],
        extra=["--consent-event-endpoint", base + "/events"],
    )
    folder: Path = tmp_path_factory.mktemp("shop")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHOP_SECRET_KEY": "shop-test-key"}
    log = (folder / "shop.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.shop", "--port", str(port), "--issuer", porta.issuer,
         "--client-id", creds["client_id"], "--client-secret", creds["client_secret"],
         "--database", str(folder / "shop.sqlite")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 180  # safety net only, not a speed check
        while True:
            assert process.poll() is None, (folder / "shop.log").read_text()
            try:
                if requests.get(base + "/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (folder / "shop.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_shop_login_personalised_pages_receipt_and_logout(porta: Any, shop: str) -> None:
    browser = requests.Session()
    front = browser.get(shop + "/").text
    assert "Log in with your profile" in front and "Welcome back" not in front

    start = browser.get(shop + "/your-data", allow_redirects=False)
    assert start.status_code == 302
    to_porta = browser.get(urljoin(shop, start.headers["Location"]), allow_redirects=False)
    assert to_porta.headers["Location"].startswith(porta.issuer)
    arrival = porta.login(
        to_porta.headers["Location"], shop + "/callback", PORTA_USER["email"],
        PORTA_USER["password"], session=browser,
    )
    data_page = browser.get(arrival.url)  # the callback, then back to /your-data
    assert data_page.url == shop + "/your-data"
    text = data_page.text
    assert PORTA_USER["email"] in text
    # The receipt Porta returned with the tokens, verified by the shop (signature + schema).
    assert "verified by this shop" in text
    assert "email — for " in text
    assert f'href="{porta.issuer}/account/relationships/' in text

    front = browser.get(shop + "/").text
    first_name = PORTA_USER["name"].split()[0]
    assert f"Welcome back, {first_name}" in front or f"Welcome back, {PORTA_USER['name']}" in front

    out = browser.get(shop + "/logout", allow_redirects=False)
    assert out.headers["Location"].startswith(porta.issuer)
    assert "Welcome back" not in browser.get(shop + "/").text


def test_withdrawing_at_porta_makes_the_shop_forget_the_person(porta: Any, shop: str) -> None:
    """Withdraw at the provider -> consent-event SET pushed to /events -> the shop deletes the data."""
    porta.create_user("wim@example.com", "Wim Example", "wim-password-123")
    browser = requests.Session()
    start = browser.get(shop + "/login?next=/your-data", allow_redirects=False)
    arrival = porta.login(
        start.headers["Location"], shop + "/callback", "wim@example.com", "wim-password-123",
        session=browser,
    )
    data_page = browser.get(arrival.url).text
    assert "wim@example.com" in data_page
    withdraw_link = data_page.split('class="withdraw" href="')[1].split('"')[0]

    # The person follows the shop's link to Porta and withdraws there (same browser).
    relationship = browser.get(withdraw_link)
    assert relationship.status_code == 200
    (form,) = [f for f in parse_forms(relationship.text) if f.action.endswith("/withdraw")]
    fields = {i["name"]: i.get("value", "") for i in form.inputs if i.get("name")}
    done = browser.post(urljoin(withdraw_link, form.action), data=fields)
    assert done.status_code == 200

    # Porta pushes the SET in the background; `porta events deliver` retries anything due.
    porta.cli("events", "deliver")
    deadline = time.monotonic() + 120  # safety net only: delivery is asynchronous
    while True:
        front = browser.get(shop + "/").text
        if "deleted your data and logged you out" in front:
            break
        assert time.monotonic() < deadline, "the shop never received the withdrawal event"
        time.sleep(0.5)
    gate = browser.get(shop + "/your-data", allow_redirects=False)
    assert gate.status_code == 302  # logged out: the shop holds nothing about the person


def test_shop_explains_a_refused_consent(porta: Any, shop: str) -> None:
    # A person who has not consented to the shop yet (Porta remembers earlier consent).
    porta.create_user("bea@example.com", "Bea Example", "bea-password-123")
    browser = requests.Session()
    start = browser.get(shop + "/login", allow_redirects=False)
    arrival = porta.login(
        start.headers["Location"], shop + "/callback", "bea@example.com", "bea-password-123",
        session=browser, deny=True,
    )
    refused = browser.get(arrival.url)
    assert refused.status_code == 403
    assert "You chose not to share your profile with this site." in refused.text
    assert "Log in with your profile" in browser.get(shop + "/").text
