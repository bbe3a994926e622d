"""The tests' one vocabulary: providers on every configured database, people, clients, and
helpers that walk the flows the way a browser and a relying party would.

Two kinds of provider:

* ``app`` (with ``http``, ``user``, ``register``, ``rp``, ``tokens``): a provider of its
  own for each test; ``make_app(**settings)`` builds one with other settings.
* ``shared_app`` (with ``browser``, ``anon``, ``alice``, ``new_client``): one provider
  per test module, for the adversarial suites that run hundreds of requests. Building an
  app (migrations, keys) and logging in (argon2id) are the expensive steps, so each module
  gets one app per backend and one login whose cookie every ``browser`` starts from. Each
  test still gets a fresh cookie jar and registers its own clients; tests that end the
  session log in again (``fresh_browser``).

Every test that takes either runs once on SQLite and, when ``PORTA_TEST_DATABASE_URL``
is set (``.ci/run`` sets it), once more on PostgreSQL, each in a schema of its own that
is dropped afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, func, select, text

# Few imports from idp on purpose: every test starts here.
from idp.app import create_app
from idp.base.context import Context
from idp.profile.accounts import create_user
from idp.protocol.clients import create_client, validate_metadata
from idp.storage import Store
from idp.web.common import session_cookie_name

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
SECRET_KEY = "test-secret-key-" + "x" * 16
SESSION_COOKIE = session_cookie_name(ISSUER)
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


@pytest.fixture(scope="module", params=BACKENDS)
def shared_database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """A fresh database for one test module, on each backend."""
    with fresh_database(request.param, tmp_path_factory.mktemp("porta")) as url:
        yield url


def build_app(database_url: str, **overrides: Any):
    """A provider on ``database_url`` with the test settings, migrated to the newest schema."""
    settings = {
        "DATABASE_URL": database_url,
        "ISSUER": ISSUER,
        "SECRET_KEY": SECRET_KEY,
        "TESTING": True,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        **overrides,
    }
    return create_app(settings, auto_upgrade=True)


def close_app(app) -> None:
    """Let the app's background pushes finish, then release its database connections."""
    settle(app)  # a push still running would write to a database that is about to go
    app.extensions["porta"]["engine"].dispose()


@pytest.fixture
def make_app(database_url: str):
    """Build an app on the test database with settings overridden: ``make_app(**settings)``."""
    apps = []

    def build(**overrides: Any):
        app = build_app(database_url, **overrides)
        apps.append(app)
        return app

    yield build
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app):
    """A Porta app with default settings, for this test alone."""
    return make_app()


@pytest.fixture
def http(app):
    """A Flask test client: real WSGI requests, cookies kept."""
    return app.test_client()


@pytest.fixture(scope="module")
def shared_app(shared_database_url: str):
    """One provider with default settings for a whole test module."""
    app = build_app(shared_database_url)
    yield app
    close_app(app)


@pytest.fixture
def anon(shared_app):
    """A browser (or an RP's HTTP client) with no session, on the module's provider."""
    return shared_app.test_client()


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
        settings=porta["settings"],
        store=store,
        keys=porta["keys"],
        fetch_json=porta["fetch_json"],
        catalogue=porta["catalogue"],
    )


def count_rows(app, model) -> int:
    """How many rows a table holds."""
    store = store_of(app)
    try:
        return store.session.scalar(select(func.count()).select_from(model))
    finally:
        store.close()


@dataclass
class RegisteredClient:
    """A client created for a test, with its plain secret."""

    client_id: str
    client_secret: str | None
    redirect_uri: str
    metadata: dict[str, Any]


def add_alice(app, **profile: Any):
    """The person alice@example.org (password ``PASSWORD``) on ``app``, with ``profile`` added."""
    store = store_of(app)
    try:
        person = create_user(store, "alice@example.org", PASSWORD, "Alice Example")
        person.profile = {**person.profile, "email_verified": True, "locale": "en-GB", **profile}
        store.commit()
    finally:
        store.close()
    return person


@pytest.fixture
def user(app):
    """Alice on this test's ``app``, with a filled-in profile (phone and address too)."""
    return add_alice(
        app,
        phone_number="+44 20 7946 0000",
        address={"street_address": "1 Main St", "locality": "Leeds", "country": "GB"},
    )


@pytest.fixture(scope="module")
def alice(shared_app):
    """Alice on the module's provider."""
    return add_alice(shared_app)


def log_in(app) -> Any:
    """A new browser that has logged in as alice through the login form."""
    browser = app.test_client()
    page = browser.get("/login")
    response = browser.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "alice@example.org",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return browser


@pytest.fixture(scope="module")
def alice_cookie(shared_app, alice) -> str:
    """The session cookie of one login, shared by every ``browser`` of the module."""
    cookie = log_in(shared_app).get_cookie(SESSION_COOKIE)
    assert cookie is not None
    return cookie.value


@pytest.fixture
def browser(shared_app, alice_cookie):
    """A browser where alice is logged in (do not log it out: the session is shared)."""
    client = shared_app.test_client()
    client.set_cookie(SESSION_COOKIE, alice_cookie)
    return client


@pytest.fixture
def fresh_browser(shared_app, alice) -> Callable[[], Any]:
    """Log in anew (a session of its own, which the test may end)."""
    return lambda: log_in(shared_app)


def register_on(app, **metadata: Any) -> RegisteredClient:
    """Register a client through the protocol layer (as ``porta clients add`` does).

    Defaults: a confidential web client with one redirect URI and refresh tokens; a
    metadata value of None leaves that member out.
    """
    raw = {
        "client_name": "Test RP",
        "redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        **metadata,
    }
    raw = {k: v for k, v in raw.items() if v is not None}
    store = store_of(app)
    try:
        client, secret, _ = create_client(context_of(app, store), validate_metadata(raw))
        store.commit()
    finally:
        store.close()
    uris = client.metadata_.get("redirect_uris") or [""]
    return RegisteredClient(client.client_id, secret, uris[0], client.metadata_)


@pytest.fixture
def register(app) -> Callable[..., RegisteredClient]:
    """Register a client on this test's ``app``: ``register(**metadata)``."""
    return lambda **metadata: register_on(app, **metadata)


@pytest.fixture
def new_client(shared_app) -> Callable[..., RegisteredClient]:
    """Register a client on the module's provider: ``new_client(**metadata)``."""
    return lambda **metadata: register_on(shared_app, **metadata)


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


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """An HTTP Basic Authorization header from raw parts."""
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def basic(client: RegisteredClient) -> dict[str, str]:
    """An HTTP Basic Authorization header for a client (RFC 6749 §2.3.1)."""
    return basic_auth(client.client_id, client.client_secret)


def bearer(token: str) -> dict[str, str]:
    """An RFC 6750 §2.1 Authorization header."""
    return {"Authorization": f"Bearer {token}"}


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
    """The claims a consent page offers to share (a checkbox that is not disabled)."""
    return [
        value
        for value, attributes in re.findall(r'name="claim" value="([^"]+)"([^>]*)>', html)
        if "disabled" not in attributes
    ]


def preticked_claims(html: str) -> list[str]:
    """The claim checkboxes of a consent page that are ticked as it is shown."""
    return re.findall(r'name="claim" value="([^"]+)" checked', html)


def consent(http, response, decision: str = "approve", untick: tuple[str, ...] = ()):
    """Follow a redirect to the consent page and answer it as a person who shares everything
    offered would: every offered claim ticked (and "keep me signed in", when asked), less
    those named in ``untick`` (``"offline_access"`` unticks staying signed in).
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
    if 'name="offline_access"' in html and "offline_access" not in untick:
        form["offline_access"] = "yes"
    return http.post("/consent", data=form)


def obtain_code(http, client: RegisteredClient, **params: str) -> dict[str, str]:
    """Authorize, log in if asked, consent if asked; returns the callback parameters.

    ``http`` may already be logged in (``browser``); the callback must go to the
    ``redirect_uri`` among ``params``, else to the client's first one.
    """
    response = authorize(http, client, **params)
    if response.status_code == 303 and response.headers["Location"].startswith("/login"):
        response = login(http, response)
    if response.status_code == 303 and response.headers["Location"].startswith("/consent"):
        response = consent(http, response)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(params.get("redirect_uri", client.redirect_uri)), location
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


def tokens_for(http, client: RegisteredClient, **params: str) -> dict[str, Any]:
    """The token response of a full code flow (offline_access unless a scope is given)."""
    params.setdefault("scope", "openid profile email offline_access")
    code = obtain_code(http, client, **params)["code"]
    response = exchange(http, client, code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def tokens(http, rp, user):
    """A full code flow with offline_access: the token response body."""
    return tokens_for(http, rp, prompt="consent")


def introspect(http, client: RegisteredClient, token: str) -> dict[str, Any]:
    """Introspect a token as ``client`` (client_secret_basic); the JSON body."""
    response = http.post("/introspect", data={"token": token}, headers=basic(client))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- what a response must look like ----------------------------------------------------------


def assert_oauth_error(response, status: int, error: str | None = None) -> dict[str, Any]:
    """A JSON error per RFC 6749 §5.2: status, ``error`` and a human ``error_description``."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    if error is not None:
        assert body["error"] == error, body
    return body


def assert_error_page(response, attacker: str | None = None) -> str:
    """An error page shown to the person: 4xx HTML and no redirect anywhere."""
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers, response.headers.get("Location")
    html = response.get_data(as_text=True)
    if attacker is not None:
        assert attacker not in html  # not even as a link
    return html


# -- tokens taken apart and forged -----------------------------------------------------------


def unb64(part: str) -> bytes:
    """base64url decoding with padding restored."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sid_of(id_token: str) -> str:
    """The ``sid`` claim of an ID token (unverified: the test issued it)."""
    return jwt.decode(id_token, options={"verify_signature": False})["sid"]


def forge_alg_none(token: str) -> str:
    """The same claims and kid under ``alg: none`` with an empty signature (RFC 8725 §2.1)."""
    header = json.loads(unb64(token.split(".")[0]))
    header["alg"] = "none"
    payload = token.split(".")[1]
    return f"{b64(json.dumps(header).encode())}.{payload}."


def forge_hs256_with_public_key(http, token: str) -> str:
    """Re-sign the claims with HMAC, using the published public key as the secret.

    The key-confusion attack of RFC 8725 §2.1: a verifier that takes the
    algorithm from the header would check the HMAC with the PEM it holds.
    """
    header = json.loads(unb64(token.split(".")[0]))
    jwk = next(k for k in http.get("/jwks.json").get_json()["keys"] if k["kid"] == header["kid"])
    pem = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header["alg"] = "HS256"
    signing_input = f"{b64(json.dumps(header).encode())}.{token.split('.')[1]}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def forge_foreign_key(token: str) -> str:
    """The same claims and kid, signed with a key the provider never had."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": header["kid"]}
    )


FORGERIES = {
    "alg_none": lambda http, token: forge_alg_none(token),
    "hs256_public_key": forge_hs256_with_public_key,
    "foreign_key_same_kid": lambda http, token: forge_foreign_key(token),
}


# -- a real SMTP server on 127.0.0.1 ------------------------------------------------------------


@dataclass
class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps every message it accepts."""

    url: str
    messages: list[Any]

    def to(self, address: str) -> list[Any]:
        """Messages delivered to ``address``, oldest first (parsed email.message objects)."""
        return [m for m in self.messages if address.lower() in m["To"].lower()]


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message; stopped on exit."""
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


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """An SMTP server the test talks to over a real socket; stopped at the end of the test."""
    with smtp_sink() as sink:
        yield sink


def wait_for_background(app) -> None:
    """Join the delivery threads a request started (event pushes, mail), bounded."""
    for thread in app.extensions["porta"].get("push_threads", []):
        thread.join(timeout=30)
