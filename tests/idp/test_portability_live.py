"""Moving between two running providers (consent_spec SPEC.md §12; issue 6 item 5).

Two `porta serve` processes on 127.0.0.1, each with its own SQLite database and its
own keys, set up through the `porta` CLI. Alice and Bob consent to a site at A and
download their exports over HTTP; B imports Alice's through `porta users import` and
Bob's through its import page, fetching A's keys from A's discovery document. A
tampered export is refused whole.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest
import requests

import consent_spec
from idp.profile.personas import create_persona
from idp.storage import Store
from idp.storage.db import make_engine, make_sessionmaker
from tests.live import LivePorta, browser_login

REDIRECT = "http://127.0.0.1:9/callback"  # nothing listens: the redirect is captured
PEOPLE = {
    "alice@example.org": ("alice-password-1", "Alice Example"),
    "bob@example.org": ("bob-password-22", "Bob Example"),
}
NEW_PASSWORD = "password-at-b-1"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _add_persona(server: LivePorta, email: str, name: str, claims: dict) -> None:
    """Personas have no CLI: add one through the library, on A's own database file."""
    engine = make_engine(server.env["PORTA_DATABASE_URL"])
    store = Store(make_sessionmaker(engine)())
    try:
        create_persona(store, store.get_user_by_email(email), name, claims)
        store.commit()
    finally:
        store.close()
        engine.dispose()


def _consent_and_export(server: LivePorta, client_id: str, email: str) -> str:
    """Sign in at A, consent to the site, then download the export with that session."""
    password = PEOPLE[email][0]
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": secrets.token_hex(4),
        "nonce": secrets.token_hex(4),
        "prompt": "consent",
    }
    with requests.Session() as browser:
        location = browser_login(
            browser, f"{server.issuer}/authorize?{urlencode(query)}", email, password, REDIRECT
        )
        assert "code=" in location
        response = browser.get(server.issuer + "/account/export", timeout=30)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/jwt")
    assert "attachment" in response.headers["Content-Disposition"]
    return response.text


def _sign_in(server: LivePorta, email: str, password: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(server.issuer + "/login", timeout=10)
    response = browser.post(
        server.issuer + "/login",
        data={"csrf_token": _csrf(page.text), "email": email, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, response.text[:500]
    return browser


def _payload(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture(scope="module")
def providers(tmp_path_factory):
    """A (with Alice, Bob and a site) and B (empty), both serving."""
    a = LivePorta(tmp_path_factory.mktemp("porta-a"))
    b = LivePorta(tmp_path_factory.mktemp("porta-b"))
    for email, (password, name) in PEOPLE.items():
        a.create_user(email, password, name)
    site = a.create_client("--name", "Alder Books", "--redirect-uri", REDIRECT)
    _add_persona(a, "alice@example.org", "Work", {"email": "alice@work.example"})
    _add_persona(a, "bob@example.org", "Shopping", {"email": "bob.shop@mail.example"})
    with a.start(), b.start():
        yield a, b, site["client_id"]


def test_export_from_a_imports_into_b_through_the_cli(providers, tmp_path: Path):
    a, b, client_id = providers
    token = _consent_and_export(a, client_id, "alice@example.org")
    exported = _payload(token)
    assert consent_spec.validate(exported, "portable-profile") == []
    assert exported["ledger"] and exported["exporter"]["issuer"] == a.issuer

    # A tampered copy is refused whole: nothing about Alice appears at B.
    header, _, signature = token.split(".")
    document = dict(exported, profile={**exported["profile"], "name": "Mallory"})
    forged_payload = jwt.utils.base64url_encode(json.dumps(document).encode()).decode()
    forged = tmp_path / "forged.jwt"
    forged.write_text(f"{header}.{forged_payload}.{signature}")
    with pytest.raises(AssertionError, match="signature"):
        b.cli("users", "import", str(forged), "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert "alice@example.org" not in b.cli("users", "list")

    genuine = tmp_path / "alice.jwt"
    genuine.write_text(token)
    out = b.cli("users", "import", str(genuine), "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert "imported alice@example.org" in out
    assert "alice@example.org" in b.cli("users", "list")
    assert "every chain intact" in b.cli("consents", "verify-ledger")

    # At B, Alice signs in with her new password: the history is shown as imported, intact,
    # and B's own export carries the same profile and personas.
    browser = _sign_in(b, "alice@example.org", NEW_PASSWORD)
    with browser:
        page = browser.get(b.issuer + "/account/imported", timeout=10).text
        assert "Imported consent history" in page and "Alder Books" in page
        assert a.issuer in page and "chain intact" in page and "imported" in page
        again = _payload(browser.get(b.issuer + "/account/export", timeout=30).text)
    assert again["profile"] == exported["profile"]
    assert (
        [(p["label"], p["claims"]) for p in again["personas"]]
        == [(p["label"], p["claims"]) for p in exported["personas"]]
        == [("Work", {"email": "alice@work.example"})]
    )
    # History, not consent: nothing was consented at B, so B's own ledger for Alice is empty.
    assert again["ledger"] == [] and again["exporter"]["issuer"] == b.issuer


def test_export_from_a_imports_into_b_through_the_page(providers):
    a, b, client_id = providers
    token = _consent_and_export(a, client_id, "bob@example.org")
    with requests.Session() as browser:
        form = browser.get(b.issuer + "/account/import", timeout=10).text
        response = browser.post(
            b.issuer + "/account/import",
            data={
                "csrf_token": _csrf(form),
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
            files={"export_file": ("porta-export.jwt", token.encode(), "application/jwt")},
            timeout=30,
        )
    assert response.status_code == 200, response.text[:800]
    assert "Your profile is here" in response.text and "Shopping" in response.text
    assert "Alder Books" in response.text and "chain intact" in response.text
    with _sign_in(b, "bob@example.org", NEW_PASSWORD) as browser:
        again = _payload(browser.get(b.issuer + "/account/export", timeout=30).text)
    exported = _payload(token)
    assert again["profile"] == exported["profile"]
    assert [(p["label"], p["claims"]) for p in again["personas"]] == [
        ("Shopping", {"email": "bob.shop@mail.example"})
    ]
