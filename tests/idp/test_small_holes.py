"""The small holes of issue 13 item 6: each input here once answered a 500 or left the site.

``next`` after sign-in stays on the site (RFC 9700 §4.11.2, open redirectors);
redirect URIs never carry a fragment (RFC 6749 §3.1.2); receipts are read only
by an authenticated client (consent_spec §7); bad numbers answer 4xx.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import types
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from granian.log import log_request_builder
from gunicorn.config import Config
from gunicorn.glogging import Logger

from idp.base.settings import load_settings
from idp.server import GRANIAN_ACCESS_LOG_FORMAT, gunicorn_settings
from tests.conftest import ISSUER, PASSWORD, authorize, csrf_from, obtain_code


def _sign_in(http, next_value: str):
    page = http.get("/login")
    return http.post(
        "/login",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "alice@example.org",
            "password": PASSWORD,
            "next": next_value,
        },
    )


@pytest.mark.parametrize(
    "next_value",
    [
        "/\t/evil.example",  # a browser drops the tab: //evil.example
        "/\n/evil.example",
        "/%09/evil.example",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example/",
        "/account\r\nSet-Cookie: x=y",
        " /account",
    ],
)
def test_next_after_sign_in_never_leaves_the_site(http, user, next_value):
    response = _sign_in(http, next_value)
    assert response.status_code in (303, 400)
    if response.status_code == 303:
        location = response.headers["Location"]
        parts = urlsplit(location)
        assert parts.netloc in ("", urlsplit(ISSUER).netloc)
        assert location.startswith("/") and not location.startswith("//")
        assert not any(ord(ch) < 0x21 or ch == "\\" for ch in location)


def test_a_plain_local_next_is_kept(http, user):
    response = _sign_in(http, "/account?tab=sites")
    assert (response.status_code, response.headers["Location"]) == (303, "/account?tab=sites")


@pytest.mark.parametrize(
    "metadata",
    [
        {"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb#frag"]},
        {"application_type": "native", "redirect_uris": ["http://127.0.0.1:8080/cb#"]},
        {"application_type": "native", "redirect_uris": ["com.example.app:/cb#x"]},
        {"redirect_uris": ["https://rp.example/cb#"]},
        {
            "redirect_uris": ["https://rp.example/cb"],
            "post_logout_redirect_uris": ["https://rp.example/bye#x"],
        },
    ],
)
def test_registration_refuses_a_fragment_in_any_redirect_uri(http, metadata):
    response = http.post("/register", json={"token_endpoint_auth_method": "none", **metadata})
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")


def test_a_native_loopback_redirect_with_a_fragment_is_refused_at_authorization(http, register):
    client = register(
        application_type="native",
        token_endpoint_auth_method="none",
        redirect_uris=["http://127.0.0.1/cb"],
    )
    response = authorize(
        http,
        client,
        redirect_uri="http://127.0.0.1:5123/cb#frag",
        code_challenge="x" * 43,
        code_challenge_method="S256",
    )
    assert response.status_code == 400  # never redirected to an unregistered URI


def test_a_public_client_cannot_read_consent_receipts(http, register):
    public = register(
        token_endpoint_auth_method="none",
        application_type="native",
        redirect_uris=["http://127.0.0.1/cb"],
    )
    response = http.post("/consent/receipts", data={"client_id": public.client_id})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_max_age_with_thousands_of_digits_is_invalid_request(http, rp, user):
    response = authorize(http, rp, max_age="9" * 5000)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=invalid_request" in response.headers["Location"]


def test_a_redirect_port_above_65535_is_refused_at_registration(http):
    response = http.post(
        "/register",
        json={
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["http://127.0.0.1:70000/cb"],
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_redirect_uri"


def test_a_client_assertion_expiring_in_year_33658_is_invalid_client(http, register, user):
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "k1", "use": "sig", "alg": "ES256"})
    client = register(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]})
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": ISSUER + "/token",
        "iat": int(time.time()),
        "exp": 1e12,
        "jti": secrets.token_hex(12),
    }
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": obtain_code(http, client)["code"],
            "redirect_uri": client.redirect_uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"}),
        },
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


# -- an http issuer, and what the access logs keep --------------------------------------------


@pytest.mark.parametrize(
    "issuer", ["http://id.example", "http://10.0.0.5:8000", "ftp://id.example"]
)
def test_an_insecure_issuer_off_loopback_stops_the_provider(issuer):
    with pytest.raises(ValueError, match="PORTA_ISSUER"):
        load_settings({"ISSUER": issuer, "DEV": False, "DATABASE_URL": "sqlite://"})


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_an_http_issuer_on_loopback_is_for_local_use(issuer):
    assert (
        load_settings({"ISSUER": issuer, "DEV": False, "DATABASE_URL": "sqlite://"}).issuer
        == issuer
    )


def test_development_mode_allows_an_http_issuer_anywhere():
    settings = load_settings(
        {"ISSUER": "http://id.example", "DEV": True, "DATABASE_URL": "sqlite://"}
    )
    assert settings.issuer == "http://id.example"


SECRET_QUERY = "id_token_hint=eyJhbGciOiJFUzI1NiJ9.secret-part"


def test_gunicorn_access_log_has_no_query_string():
    config = Config()
    for key, value in gunicorn_settings("127.0.0.1", 8000, 1, 1).items():
        config.set(key, value)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/logout?" + SECRET_QUERY,
        "PATH_INFO": "/logout",
        "QUERY_STRING": SECRET_QUERY,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_REFERER": "https://rp.example/cb?code=abc&" + SECRET_QUERY,
    }
    response = types.SimpleNamespace(status="200 OK", sent=12, headers=[])
    line = config.access_log_format % Logger(config).atoms(
        response, [], environ, timedelta(milliseconds=3)
    )
    assert "/logout" in line and "192.0.2.7" in line
    assert "eyJ" not in line and "code=" not in line


def test_granian_access_log_has_no_query_string(caplog):
    request = {
        "addr_remote": "192.0.2.7",
        "path": "/logout",
        "qs": SECRET_QUERY,
        "method": "GET",
        "scheme": "http",
        "protocol": "HTTP/1.1",
        "headers": lambda name: None,
    }
    with caplog.at_level(logging.INFO):
        log_request_builder(GRANIAN_ACCESS_LOG_FORMAT)(
            time.time(), time.perf_counter(), request, 200
        )
    assert "GET /logout HTTP/1.1" in caplog.text
    assert "eyJ" not in caplog.text
