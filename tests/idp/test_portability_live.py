"""Moving between two running providers (consent_spec SPEC.md §12).

Two `porta serve` processes on 127.0.0.1, each with its own SQLite database and its
own keys, set up through the `porta` CLI; B sends mail to an SMTP server the test
runs. Alice and Bob consent to a site at A, Alice picks her Work persona for it and
stops sharing one claim, and both download encrypted exports over HTTP. B imports
Alice's through `porta users import`, and Bob's through its import page after Bob
proves his address by the link B mails him. Persona bindings, withdrawals and custom
claims arrive at B; a tampered export is refused whole.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

import jwt
import pytest
import requests
from jwcrypto import jwe, jwk

import consent_spec
from idp.profile.personas import create_persona
from idp.storage import Store
from idp.storage.db import make_engine, make_sessionmaker
from tests.conftest import smtp_sink
from tests.live import LivePorta, browser_login

REDIRECT = "http://127.0.0.1:9/callback"  # nothing listens: the redirect is captured
PEOPLE = {
    "alice@example.org": ("alice-password-1", "Alice Example"),
    "bob@example.org": ("bob-password-22", "Bob Example"),
}
NEW_PASSWORD = "password-at-b-1"
PASSPHRASE = "a passphrase for the move"
DIET = "urn:porta:claim:dietary-preference"
CATALOGUE = {
    "spec_version": "1.0",
    "issuer": "https://a.example",
    "claims": {
        DIET: {
            "display_name": {"en": "Dietary preference"},
            "type": "string",
            "sensitivity": "special-category",
            "source": "custom",
        }
    },
}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _add_persona(server: LivePorta, email: str, name: str, claims: dict, extra: dict) -> None:
    """Personas have no CLI: add one (and profile values) through the library, on A's file."""
    engine = make_engine(server.env["PORTA_DATABASE_URL"])
    store = Store(make_sessionmaker(engine)())
    try:
        with store.unit_of_work():
            person = store.get_user_by_email(email)
            create_persona(store, person, name, claims)
            store.save_profile(person, {**person.profile, **extra})
    finally:
        store.close()
        engine.dispose()


def _persona_id(server: LivePorta, email: str) -> str:
    engine = make_engine(server.env["PORTA_DATABASE_URL"])
    store = Store(make_sessionmaker(engine)())
    try:
        (persona,) = store.personas_of(store.get_user_by_email(email).id)
        return persona.id
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
        if email == "alice@example.org":  # her Work persona for the site, and one claim less
            page = browser.get(f"{server.issuer}/account/relationships/{client_id}", timeout=10)
            switched = browser.post(
                f"{server.issuer}/account/relationships/{client_id}/persona",
                data={"csrf_token": _csrf(page.text), "persona": _persona_id(server, email)},
                timeout=30,
            )
            assert switched.status_code == 200, switched.text[:500]
            narrowed = browser.post(
                f"{server.issuer}/account/relationships/{client_id}/narrow",
                data={"csrf_token": _csrf(switched.text), "keep": ["name", "email"]},
                timeout=30,
            )
            assert narrowed.status_code == 200, narrowed.text[:500]
        page = browser.get(server.issuer + "/account/export", timeout=30)
        response = browser.post(
            server.issuer + "/account/export",
            data={
                "csrf_token": _csrf(page.text),
                "passphrase": PASSPHRASE,
                "passphrase_again": PASSPHRASE,
            },
            timeout=60,
        )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/jose")
    assert "attachment" in response.headers["Content-Disposition"]
    return response.text


def _opened(token: str) -> str:
    """The signed export inside an encrypted one (the test holds the passphrase)."""
    envelope = jwe.JWE()
    envelope.deserialize(token, key=jwk.JWK.from_password(PASSPHRASE))
    return envelope.payload.decode()


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
def mailbox():
    """A real SMTP server on 127.0.0.1 that B sends its mail to."""
    with smtp_sink() as sink:
        yield sink.url, sink.messages


@pytest.fixture(scope="module")
def providers(tmp_path_factory, mailbox):
    """A (with Alice, Bob, a site and a custom claim) and B (empty, sending mail), both serving."""
    folder = tmp_path_factory.mktemp("porta-a")
    catalogue = folder / "catalogue.json"
    catalogue.write_text(json.dumps(CATALOGUE))
    a = LivePorta(folder, CLAIMS_CATALOGUE=str(catalogue))
    b = LivePorta(tmp_path_factory.mktemp("porta-b"), SMTP_URL=mailbox[0])
    for email_address, (password, name) in PEOPLE.items():
        a.create_user(email_address, password, name)
    site = a.create_client("--name", "Alder Books", "--redirect-uri", REDIRECT)
    _add_persona(a, "alice@example.org", "Work", {"email": "alice@work.example"}, {DIET: "vegan"})
    _add_persona(a, "bob@example.org", "Shopping", {"email": "bob.shop@mail.example"}, {})
    with a.start(), b.start():
        yield a, b, site["client_id"]


def test_export_from_a_imports_into_b_through_the_cli(providers, tmp_path: Path):
    a, b, client_id = providers
    sealed = _consent_and_export(a, client_id, "alice@example.org")
    assert sealed.count(".") == 4 and "alice" not in sealed  # encrypted by default
    token = _opened(sealed)
    exported = _payload(token)
    assert consent_spec.validate(exported, "portable-profile") == []
    assert exported["ledger"] and exported["exporter"]["issuer"] == a.issuer
    # Persona bindings, withdrawals and custom claims travel (SPEC.md §12.5).
    (work,) = exported["personas"]
    assert work["label"] == "Work" and work["sites"] == [client_id]
    assert {w["withdrawal_id"] for w in exported["withdrawals"]} == {
        e["withdrawal_id"] for e in exported["ledger"] if "withdrawal_id" in e
    }
    assert exported["profile"][DIET] == "vegan" and DIET in exported["catalogue"]["claims"]

    # A tampered copy is refused whole: nothing about Alice appears at B.
    header, _, signature = token.split(".")
    document = dict(exported, profile={**exported["profile"], "name": "Mallory"})
    forged_payload = jwt.utils.base64url_encode(json.dumps(document).encode()).decode()
    forged = tmp_path / "forged.jwt"
    forged.write_text(f"{header}.{forged_payload}.{signature}")
    with pytest.raises(AssertionError, match="signature"):
        b.cli("users", "import", str(forged), "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert "alice@example.org" not in b.cli("users", "list")

    genuine = tmp_path / "alice.jwe"
    genuine.write_text(sealed)
    out = b.cli(
        "users",
        "import",
        str(genuine),
        "--password-stdin",
        stdin=f"{NEW_PASSWORD}\n{PASSPHRASE}\n",
    )
    assert "imported alice@example.org" in out
    assert "alice@example.org" in b.cli("users", "list")
    assert "every chain intact" in b.cli("consents", "verify-ledger")
    # The same export a second time is a replay.
    with pytest.raises(AssertionError, match="already imported"):
        b.cli(
            "users",
            "import",
            str(genuine),
            "--password-stdin",
            stdin=f"other-password-1\n{PASSPHRASE}\n",
        )

    # At B, Alice signs in with her new password: the history is shown as imported, intact,
    # with the persona that site received; B's own export carries the same personas (their
    # ids and sites too), the custom claim, and A's export as history.
    browser = _sign_in(b, "alice@example.org", NEW_PASSWORD)
    with browser:
        page = browser.get(b.issuer + "/account/imported", timeout=10).text
        assert "Imported consent history" in page and "Alder Books" in page
        assert a.issuer in page and "chain intact" in page and "imported" in page
        form = browser.get(b.issuer + "/account/export", timeout=10).text
        again = _payload(
            browser.post(
                b.issuer + "/account/export",
                data={"csrf_token": _csrf(form), "unencrypted": "yes"},
                timeout=30,
            ).text
        )
    assert again["profile"][DIET] == "vegan"
    assert again["profile"]["email_verified"] is False  # B checked nothing itself
    assert [(p["persona_id"], p["label"], p["claims"]) for p in again["personas"]] == [
        (work["persona_id"], "Work", {"email": "alice@work.example"})
    ]
    assert again["history"] == [token]
    # History, not consent: nothing was consented at B, so B's own ledger for Alice is empty.
    assert again["ledger"] == [] and again["exporter"]["issuer"] == b.issuer


def test_export_from_a_imports_into_b_through_the_page(providers, mailbox):
    a, b, client_id = providers
    sealed = _consent_and_export(a, client_id, "bob@example.org")
    with requests.Session() as browser:
        form = browser.get(b.issuer + "/account/import", timeout=10).text
        response = browser.post(
            b.issuer + "/account/import",
            data={
                "csrf_token": _csrf(form),
                "passphrase": PASSPHRASE,
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
            files={"export_file": ("porta-export.jwe", sealed.encode(), "application/jose")},
            timeout=60,
        )
        assert response.status_code == 200, response.text[:800]
        assert "Check your mail" in response.text
        assert "bob@example.org" not in b.cli("users", "list")  # nothing until the link
        messages = _wait_for_mail(mailbox[1], "bob@example.org")
        body = messages[0].get_body(("plain",)).get_content()
        link = next(line.strip() for line in body.splitlines() if "/account/import/confirm" in line)
        assert link.startswith(b.issuer)
        confirm = browser.get(link, timeout=10)
        assert confirm.status_code == 200, confirm.text[:500]
        done = browser.post(
            b.issuer + "/account/import/confirm",
            data={"csrf_token": _csrf(confirm.text), "token": link.split("token=", 1)[1]},
            timeout=60,
        )
    assert done.status_code == 200, done.text[:800]
    assert "Your profile is here" in done.text and "Shopping" in done.text
    assert "Alder Books" in done.text and "chain intact" in done.text
    with _sign_in(b, "bob@example.org", NEW_PASSWORD) as browser:
        form = browser.get(b.issuer + "/account/export", timeout=10).text
        again = _payload(
            browser.post(
                b.issuer + "/account/export",
                data={"csrf_token": _csrf(form), "unencrypted": "yes"},
                timeout=30,
            ).text
        )
    assert again["profile"]["email_verified"] is True  # B verified it: Bob opened B's link
    assert [(p["label"], p["claims"]) for p in again["personas"]] == [
        ("Shopping", {"email": "bob.shop@mail.example"})
    ]
    (claim,) = again["verified_claims"]
    assert _payload(claim)["verified_claims"]["claims"] == {"email": "bob@example.org"}


def _wait_for_mail(received: list, address: str) -> list:
    """Messages to ``address``; B sends them off its request thread, so wait, bounded."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [m for m in received if address in m["To"]]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} within 30 s")
