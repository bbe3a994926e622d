"""Shared fixtures: a Porta app on every configured database, and helpers that walk the flows.

Every test that takes ``app`` runs once on SQLite and, when
``PORTA_TEST_DATABASE_URL`` is set (``.ci/run`` sets it), once more on
PostgreSQL, each in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import create_engine, text

from idp.app import create_app
from idp.base.context import Context
from idp.profile.accounts import create_user
from idp.protocol.clients import create_client, validate_metadata
from idp.storage import Store

# Cheap argon2id parameters for tests (the real defaults cost ~0.5 s a hash here); they
# reach `porta` subprocesses too, through the environment.
os.environ.setdefault("PORTA_ARGON2_TIME_COST", "1")
os.environ.setdefault("PORTA_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("PORTA_ARGON2_PARALLELISM", "1")

# The conformance suite's own tests run it in-process through pytester.
pytest_plugins = ["pytester"]

ISSUER = "http://localhost"
PASSWORD = "correct horse battery staple"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("PORTA_TEST_DATABASE_URL") else [])


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file in ``folder``, or a PostgreSQL schema of its own
    (created here, dropped on exit) on the server named by PORTA_TEST_DATABASE_URL."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/porta.sqlite"
        return
    base = os.environ["PORTA_TEST_DATABASE_URL"]
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def make_app(database_url: str):
    """Build an app on the test database with settings overridden."""
    apps = []

    def build(**overrides: Any):
        settings = {
            "DATABASE_URL": database_url,
            "ISSUER": ISSUER,
            "SECRET_KEY": "test-secret-key-" + "x" * 16,
            "TESTING": True,
            "LOGIN_RATE_LIMIT": "1000 per minute",
            **overrides,
        }
        app = create_app(settings, auto_upgrade=True)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["porta"]["engine"].dispose()


@pytest.fixture
def app(make_app):
    """A Porta app with default settings."""
    return make_app()


@pytest.fixture
def http(app):
    """A Flask test client: real WSGI requests, cookies kept."""
    return app.test_client()


def store_of(app) -> Store:
    """A Store on the app's database (close it when done)."""
    return Store(app.extensions["porta"]["sessionmaker"]())


def context_of(app, store: Store) -> Context:
    """A protocol Context on the app's configuration."""
    porta = app.extensions["porta"]
    return Context(
        settings=porta["settings"],
        store=store,
        keys=porta["keys"],
        fetch_json=porta["fetch_json"],
        catalogue=porta["catalogue"],
    )


@dataclass
class RegisteredClient:
    """A client created for a test, with its plain secret."""

    client_id: str
    client_secret: str | None
    redirect_uri: str
    metadata: dict[str, Any]


@pytest.fixture
def user(app):
    """A person with a filled-in profile."""
    store = store_of(app)
    person = create_user(store, "alice@example.org", PASSWORD, "Alice Example")
    person.profile = {
        **person.profile,
        "email_verified": True,
        "phone_number": "+44 20 7946 0000",
        "address": {"street_address": "1 Main St", "locality": "Leeds", "country": "GB"},
        "locale": "en-GB",
    }
    store.commit()
    store.close()
    return person


@pytest.fixture
def register(app):
    """Register a client directly through the protocol layer."""

    def _register(**metadata: Any) -> RegisteredClient:
        raw = {
            "client_name": "Test RP",
            "redirect_uris": ["https://rp.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            **metadata,
        }
        raw = {k: v for k, v in raw.items() if v is not None}
        store = store_of(app)
        ctx = context_of(app, store)
        client, secret, _ = create_client(ctx, validate_metadata(raw))
        store.commit()
        store.close()
        return RegisteredClient(
            client.client_id,
            secret,
            client.metadata_["redirect_uris"][0] if client.metadata_.get("redirect_uris") else "",
            client.metadata_,
        )

    return _register


@pytest.fixture
def rp(register):
    """A confidential client using client_secret_basic."""
    return register()


def pkce_pair() -> tuple[str, str]:
    """A (code_verifier, S256 code_challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no csrf_token field"
    return match.group(1)


def interaction_from(location: str) -> str:
    """The interaction id in a /login or /consent redirect."""
    return parse_qs(urlsplit(location).query)["interaction"][0]


def callback_params(location: str) -> dict[str, str]:
    """Query parameters of a redirect to the client."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def basic(client: RegisteredClient) -> dict[str, str]:
    """An HTTP Basic Authorization header for a client (RFC 6749 §2.3.1)."""
    raw = f"{client.client_id}:{client.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def authorize(http, client: RegisteredClient, **params: str):
    """Send an authorization request and return the response (not followed)."""
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        **params,
    }
    query = {k: v for k, v in query.items() if v is not None}
    return http.get("/authorize?" + urlencode(query))


def login(http, response, email: str = "alice@example.org", password: str = PASSWORD):
    """Follow a redirect to the login page and submit the credentials."""
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/login"), location
    page = http.get(location)
    form = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "email": email,
        "password": password,
    }
    form["interaction"] = interaction_from(location)
    return http.post("/login", data=form)


def offered_claims(html: str) -> list[str]:
    """The claim checkboxes of a consent page that are ticked as it is shown."""
    return re.findall(r'name="claim" value="([^"]+)" checked', html)


def consent(http, response, decision: str = "approve", untick: tuple[str, ...] = ()):
    """Follow a redirect to the consent page and submit it as a person would.

    The boxes ticked by default are sent, less those named in ``untick``.
    """
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/consent"), location
    html = http.get(location).get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(html),
        "interaction": interaction_from(location),
        "decision": decision,
        "claim": [c for c in offered_claims(html) if c not in untick],
    }
    return http.post("/consent", data=form)


def obtain_code(http, client: RegisteredClient, **params: str) -> dict[str, str]:
    """Authorize, log in if asked, consent if asked; returns the callback parameters."""
    response = authorize(http, client, **params)
    if response.status_code == 303 and response.headers["Location"].startswith("/login"):
        response = login(http, response)
    if response.status_code == 303 and response.headers["Location"].startswith("/consent"):
        response = consent(http, response)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(client.redirect_uri), location
    return callback_params(location)


def token_request(
    http, client: RegisteredClient | None, headers: dict[str, str] | None = None, **form: str
):
    """POST to the token endpoint with client_secret_basic unless headers are given."""
    if headers is None:
        headers = basic(client) if client is not None and client.client_secret else {}
    return http.post("/token", data=form, headers=headers)


def exchange(http, client: RegisteredClient, code: str, **form: str):
    """Redeem a code."""
    return token_request(
        http,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri,
        **form,
    )


@pytest.fixture
def tokens(http, rp, user):
    """A full code flow with offline_access: the token response body."""
    params = obtain_code(http, rp, scope="openid profile email offline_access", prompt="consent")
    response = exchange(http, rp, params["code"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- a real SMTP server on 127.0.0.1 ------------------------------------------------------------


@dataclass
class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps every message it accepts."""

    url: str
    messages: list[Any]

    def to(self, address: str) -> list[Any]:
        """Messages delivered to ``address``, oldest first (parsed email.message objects)."""
        return [m for m in self.messages if address.lower() in m["To"].lower()]


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """An SMTP server the test talks to over a real socket; stopped at the end of the test."""
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            received.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
            return "250 Message accepted"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSink(f"smtp://127.0.0.1:{port}", received)
    finally:
        controller.stop()


def wait_for_background(app) -> None:
    """Join the delivery threads a request started (event pushes, mail), bounded."""
    for thread in app.extensions["porta"].get("push_threads", []):
        thread.join(timeout=30)
