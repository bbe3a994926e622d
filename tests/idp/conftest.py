"""Fixtures for the adversarial suites: one provider per test module, cheap browsers.

Building an app (migrations, key generation) and logging in (argon2id) are the
expensive steps, so each module gets one app per database backend and one
logged-in session whose cookie every ``browser`` starts from. Each test still
gets a fresh cookie jar and registers its own clients, so tests do not see one
another's state. Tests that end the session or need special settings log in
again (``fresh_browser``) or build their own app with ``make_app``.

Names here do not shadow the shared fixtures of ``tests/conftest.py``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import func, select

from idp.app import create_app
from idp.profile.accounts import create_user
from idp.protocol.clients import create_client, validate_metadata
from tests.conftest import (
    BACKENDS,
    ISSUER,
    PASSWORD,
    RegisteredClient,
    authorize,
    callback_params,
    consent,
    context_of,
    csrf_from,
    exchange,
    fresh_database,
    login,
    store_of,
)

SECRET_KEY = "test-secret-key-" + "x" * 16
SESSION_COOKIE = "porta_session"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """A fresh database for one test module, on each backend."""
    with fresh_database(request.param, tmp_path_factory.mktemp("porta")) as url:
        yield url


@pytest.fixture(scope="module")
def shared_app(shared_database_url: str):
    """One provider with default settings for a whole test module."""
    app = create_app(
        {
            "DATABASE_URL": shared_database_url,
            "ISSUER": ISSUER,
            "SECRET_KEY": SECRET_KEY,
            "TESTING": True,
            "LOGIN_RATE_LIMIT": "1000 per minute",
        },
        auto_upgrade=True,
    )
    yield app
    app.extensions["porta"]["engine"].dispose()


@pytest.fixture(scope="module")
def alice(shared_app):
    """The person alice@example.org (password ``PASSWORD``) on the module's provider."""
    store = store_of(shared_app)
    person = create_user(store, "alice@example.org", PASSWORD, "Alice Example")
    person.profile = {**person.profile, "email_verified": True, "locale": "en-GB"}
    store.commit()
    store.close()
    return person


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
def anon(shared_app):
    """A browser (or an RP's HTTP client) with no session."""
    return shared_app.test_client()


@pytest.fixture
def fresh_browser(shared_app, alice) -> Callable[[], Any]:
    """Log in anew (a session of its own, which the test may end)."""
    return lambda: log_in(shared_app)


def register_on(app, **metadata: Any) -> RegisteredClient:
    """Register a client through the protocol layer (as ``porta clients add`` does)."""
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
def new_client(shared_app) -> Callable[..., RegisteredClient]:
    """Register a client on the module's provider: ``new_client(**metadata)``."""
    return lambda **metadata: register_on(shared_app, **metadata)


# -- helpers ----------------------------------------------------------------------------


def count_rows(app, model) -> int:
    """How many rows a table holds."""
    store = store_of(app)
    try:
        return store.session.scalar(select(func.count()).select_from(model))
    finally:
        store.close()


def code_for(browser, client: RegisteredClient, **params: str) -> dict[str, str]:
    """Authorize in a logged-in browser, consenting if asked; the callback parameters."""
    response = authorize(browser, client, **params)
    if response.status_code == 303 and response.headers["Location"].startswith("/login"):
        response = login(browser, response)
    if response.status_code == 303 and response.headers["Location"].startswith("/consent"):
        response = consent(browser, response)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(params.get("redirect_uri", client.redirect_uri)), location
    return callback_params(location)


def tokens_for(browser, client: RegisteredClient, **params: str) -> dict[str, Any]:
    """The token response of a full code flow (offline_access unless a scope is given)."""
    params.setdefault("scope", "openid profile email offline_access")
    code = code_for(browser, client, **params)["code"]
    response = exchange(browser, client, code)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    """An RFC 6750 §2.1 Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """An HTTP Basic Authorization header from raw parts."""
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def introspect(http, client: RegisteredClient, token: str) -> dict[str, Any]:
    """Introspect a token as ``client`` (client_secret_basic); the JSON body."""
    response = http.post(
        "/introspect", data={"token": token}, headers=basic_auth(client.client_id, client.client_secret)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


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


def unb64(part: str) -> bytes:
    """base64url decoding with padding restored."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

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
    from cryptography.hazmat.primitives.asymmetric import ec

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


def location_host(response) -> str | None:
    """The host a redirect points to, if any."""
    location = response.headers.get("Location")
    return urlsplit(location).hostname if location else None


def unique(prefix: str) -> str:
    """A short unique value."""
    return f"{prefix}-{secrets.token_hex(4)}"


def sid_of(id_token: str) -> str:
    """The ``sid`` claim of an ID token (unverified: the test issued it)."""
    return jwt.decode(id_token, options={"verify_signature": False})["sid"]
