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
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import create_engine, text

from idp.accounts import create_user
from idp.app import create_app
from idp.protocol.clients import create_client, validate_metadata
from idp.protocol.context import Context
from idp.storage import Store

# Cheap argon2id parameters for tests (the real defaults cost ~0.5 s a hash here); they
# reach `porta` subprocesses too, through the environment.
os.environ.setdefault("PORTA_ARGON2_TIME_COST", "1")
os.environ.setdefault("PORTA_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("PORTA_ARGON2_PARALLELISM", "1")

# The conformance suite's own tests run it in-process through pytester.
pytest_plugins = ["pytester"]

# -- test tiers ------------------------------------------------------------------------------
#
# `pytest -m "not slow"` is the everyday run: unit tests and in-process HTTP (Flask's test
# client, servers on threads). A test is ``slow`` when it starts a process it then talks to
# (`porta serve`, node-oidc-provider, the example apps), installs a wheel or drives a browser.
# Most are found here, so new ones are marked without anyone remembering to: a test is slow
# when its function, or any fixture it uses, refers to one of these process launchers.
# Anything else that is slow for another reason says so with ``pytestmark = pytest.mark.slow``.

LAUNCHERS = frozenset(
    {
        "tests.live",  # LivePorta: `porta serve` set up through the CLI
        "porta_live",  # tests/client_sdk: the same for the SDK tests
        "cli_app_runner",  # tests/client_sdk: examples/cli_app as a subprocess
        "tests.conformance.porta_launcher",  # Porta for the conformance plans
        "tests.interop.node_op.launcher",  # node-oidc-provider
    }
)


def _refers_to_a_launcher(function: object) -> bool:
    """Whether a test or fixture function names a launcher module, or something taken from one."""
    function = getattr(function, "__wrapped__", function)
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    scope = getattr(function, "__globals__", {})
    pending, seen = [code], {code}
    while pending:
        code = pending.pop()
        nested = [c for c in code.co_consts if isinstance(c, types.CodeType)]
        for name in code.co_names:
            if name in LAUNCHERS:  # a local `import porta_live` / `from tests.live import …`
                return True
            value = scope.get(name)
            if isinstance(value, types.ModuleType):
                origin = value.__name__
            else:
                origin = getattr(value, "__module__", None)
            if origin in LAUNCHERS:
                return True
            if isinstance(value, types.FunctionType) and origin == function.__module__:
                nested.append(value.__code__)  # a helper of the same module, looked into too
        for inner in nested:
            if inner not in seen:
                seen.add(inner)
                pending.append(inner)
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that starts a process through a launcher (see LAUNCHERS)."""
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        functions = [getattr(item, "function", None)]
        fixture_info = getattr(item, "_fixtureinfo", None)  # pytest's, stable since pytest 3
        if fixture_info is not None:
            for name in item.fixturenames:
                functions.extend(d.func for d in fixture_info.name2fixturedefs.get(name, ()))
        if any(_refers_to_a_launcher(f) for f in functions):
            item.add_marker(pytest.mark.slow)


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
        settle(app)  # a push still running would write to a database that is about to go
        app.extensions["porta"]["engine"].dispose()


@pytest.fixture
def app(make_app):
    """A Porta app with default settings."""
    return make_app()


@pytest.fixture
def http(app):
    """A Flask test client: real WSGI requests, cookies kept."""
    return app.test_client()


def settle(app) -> None:
    """Wait for the background event pushes the app has started (each bounded by its timeout)."""
    for thread in app.extensions["porta"].get("push_threads", []):
        thread.join(timeout=10)


def store_of(app) -> Store:
    """A Store on the app's database (close it when done)."""
    return Store(app.extensions["porta"]["sessionmaker"]())


def context_of(app, store: Store) -> Context:
    """A protocol Context on the app's configuration."""
    porta = app.extensions["porta"]
    return Context(
        config=porta["config"], store=store, keys=porta["keys"], fetch_json=porta["fetch_json"]
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
            client.client_id, secret, client.metadata_["redirect_uris"][0] if client.metadata_.get("redirect_uris") else "", client.metadata_
        )

    return _register


@pytest.fixture
def rp(register):
    """A confidential client using client_secret_basic."""
    return register()


def pkce_pair() -> tuple[str, str]:
    """A (code_verifier, S256 code_challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
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
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password}
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


def token_request(http, client: RegisteredClient | None, headers: dict[str, str] | None = None, **form: str):
    """POST to the token endpoint with client_secret_basic unless headers are given."""
    if headers is None:
        headers = basic(client) if client is not None and client.client_secret else {}
    return http.post("/token", data=form, headers=headers)


def exchange(http, client: RegisteredClient, code: str, **form: str):
    """Redeem a code."""
    return token_request(
        http, client, grant_type="authorization_code", code=code, redirect_uri=client.redirect_uri, **form
    )


@pytest.fixture
def tokens(http, rp, user):
    """A full code flow with offline_access: the token response body."""
    params = obtain_code(http, rp, scope="openid profile email offline_access", prompt="consent")
    response = exchange(http, rp, params["code"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()
