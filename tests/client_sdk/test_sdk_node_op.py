"""The SDK against an independent certified provider: node-oidc-provider from npm.

Proof the SDK is not Porta-only.  The provider runs on 127.0.0.1 through the interop
launcher (``tests/interop/node_op/launcher.py``), which stops it by PID at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from sdk_browser import drive

from client_sdk import Client, OAuthError

node_launcher = pytest.importorskip("tests.interop.node_op.launcher")

REDIRECT_URI = "http://127.0.0.1:9/node-callback"
SECRET = "node-rp-secret-0123456789-0123456789-abcdef"
ANSWERS = {"login": "alice@example.com", "password": "anything"}


@pytest.fixture(scope="module")
def node_issuer() -> Iterator[str]:
    try:
        node_launcher.ensure_installed()
    except node_launcher.NodeOPError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"node-oidc-provider unavailable: {exc}")
    clients = [
        {
            "client_id": "sdk-rp",
            "client_secret": SECRET,
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"],
        },
        {
            "client_id": "sdk-rp-post",
            "client_secret": SECRET,
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "ES256",
        },
    ]
    with node_launcher.node_op(clients=clients) as issuer:
        yield issuer


def test_code_flow_userinfo_refresh_introspect_revoke(node_issuer: str) -> None:
    client = Client.from_issuer(node_issuer, "sdk-rp", SECRET, redirect_uri=REDIRECT_URI)
    assert client.token_endpoint_auth_method == "client_secret_basic"
    request = client.authorization_url("openid email profile offline_access", prompt="consent")
    arrival = drive(requests.Session(), request.url, REDIRECT_URI, ANSWERS)
    assert parse_qs(urlsplit(arrival.url).query)["iss"] == [node_issuer]
    tokens = client.exchange_code(arrival.url, request)
    assert tokens.sub == "alice@example.com"
    assert tokens.id_token_claims["nonce"] == request.nonce
    assert tokens.refresh_token

    profile = client.userinfo(tokens)
    assert profile["email"] == "alice@example.com" and profile["name"] == "Alice Example"

    refreshed = client.refresh(tokens)
    assert refreshed.access_token != tokens.access_token and refreshed.sub == tokens.sub

    assert client.introspect(refreshed.access_token)["active"] is True
    client.revoke(refreshed.access_token, token_type_hint="access_token")
    assert client.introspect(refreshed.access_token)["active"] is False

    logout = client.end_session_url(refreshed, post_logout_redirect_uri="http://127.0.0.1:9/bye")
    assert logout.startswith(client.metadata()["end_session_endpoint"])


def test_client_secret_post_and_registered_es256(node_issuer: str) -> None:
    client = Client.from_issuer(
        node_issuer, "sdk-rp-post", SECRET, redirect_uri=REDIRECT_URI,
        token_endpoint_auth_method="client_secret_post", id_token_signed_response_alg="ES256",
    )
    request = client.authorization_url("openid email")
    tokens = client.exchange_code(drive(requests.Session(), request.url, REDIRECT_URI, ANSWERS).url, request)
    assert tokens.sub == "alice@example.com"
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == "ES256"


def test_form_post_response_mode(node_issuer: str) -> None:
    client = Client.from_issuer(node_issuer, "sdk-rp", SECRET, redirect_uri=REDIRECT_URI)
    request = client.authorization_url("openid", response_mode="form_post")
    arrival = drive(requests.Session(), request.url, REDIRECT_URI, ANSWERS)
    assert arrival.form is not None and "code" in arrival.form
    assert client.exchange_code(arrival.form, request).sub == "alice@example.com"


def test_dynamic_registration_public_client_with_pkce(node_issuer: str) -> None:
    client = Client.register(
        node_issuer,
        redirect_uris=[REDIRECT_URI],
        client_name="SDK public client",
        token_endpoint_auth_method="none",
        application_type="web",
    )
    assert client.token_endpoint_auth_method == "none" and client.client_secret is None
    request = client.authorization_url("openid email")
    tokens = client.exchange_code(drive(requests.Session(), request.url, REDIRECT_URI, ANSWERS).url, request)
    assert tokens.sub == "alice@example.com"


def test_prompt_none_without_a_session_is_login_required(node_issuer: str) -> None:
    client = Client.from_issuer(node_issuer, "sdk-rp", SECRET, redirect_uri=REDIRECT_URI)
    request = client.authorization_url("openid", prompt="none")
    arrival = drive(requests.Session(), request.url, REDIRECT_URI, ANSWERS)
    with pytest.raises(OAuthError) as caught:
        client.exchange_code(arrival.url, request)
    assert caught.value.error == "login_required"
