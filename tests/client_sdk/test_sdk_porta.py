"""Every Client method against a live Porta (``porta serve`` on 127.0.0.1, clients made by the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from porta_live import PORTA_USER

from client_sdk import Client, OAuthError

CALLBACK = "http://127.0.0.1:9/porta-callback"
BYE = "http://127.0.0.1:9/bye"


def login(porta: Any, client: Client, scope: str = "openid profile email", **params: Any):
    request = client.authorization_url(scope, **params)
    arrival = porta.login(request.url, CALLBACK, PORTA_USER["email"], PORTA_USER["password"])
    return request, arrival


def make_client(porta: Any, name: str, **options: Any) -> Client:
    extra = options.pop("extra", ())
    public = options.pop("public", False)
    method = options.get("token_endpoint_auth_method")
    creds = porta.create_client(
        name, [CALLBACK], public=public, post_logout_redirect_uris=[BYE], extra=extra,
        token_endpoint_auth_method=method if method and method != "none" else None,
    )
    return Client.from_issuer(
        porta.issuer, creds["client_id"], creds.get("client_secret"), redirect_uri=CALLBACK, **options
    )


def test_code_flow_userinfo_introspect_refresh_revoke_logout(porta: Any) -> None:
    client = make_client(porta, "SDK basic")
    request, arrival = login(porta, client, "openid profile email offline_access")
    assert parse_qs(urlsplit(arrival.url).query)["iss"] == [porta.issuer]  # RFC 9207
    tokens = client.exchange_code(arrival.url, request)
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == "ES256"
    assert tokens.refresh_token, "offline_access was granted, so a refresh token is expected"

    profile = client.userinfo(tokens)
    assert profile["sub"] == tokens.sub and profile["email"] == PORTA_USER["email"]

    info = client.introspect(tokens.access_token)
    assert info["active"] is True and info.get("client_id") in (None, client.client_id)

    refreshed = client.refresh(tokens)
    assert refreshed.access_token != tokens.access_token and refreshed.sub == tokens.sub

    client.revoke(refreshed.refresh_token, token_type_hint="refresh_token")
    with pytest.raises(OAuthError) as caught:
        client.refresh(refreshed)
    assert caught.value.error == "invalid_grant"

    logout = client.end_session_url(refreshed, post_logout_redirect_uri=BYE, state="bye-1")
    response = requests.get(logout, allow_redirects=False, timeout=10)
    assert response.status_code in (200, 302, 303)
    if response.is_redirect:
        assert response.headers["Location"].startswith(BYE)


def test_used_code_is_refused(porta: Any) -> None:
    client = make_client(porta, "SDK reuse")
    request, arrival = login(porta, client)
    client.exchange_code(arrival.url, request)
    with pytest.raises(OAuthError) as caught:
        client.exchange_code(arrival.url, request)
    assert caught.value.error == "invalid_grant"


def test_registered_rs256_and_client_secret_post(porta: Any) -> None:
    client = make_client(
        porta, "SDK rs256", extra=["--id-token-alg", "RS256"],
        id_token_signed_response_alg="RS256", token_endpoint_auth_method="client_secret_post",
    )
    request, arrival = login(porta, client)
    tokens = client.exchange_code(arrival.url, request)
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == "RS256"


def test_public_client_with_pkce(porta: Any) -> None:
    client = make_client(porta, "SDK public", public=True)
    assert client.token_endpoint_auth_method == "none"
    request, arrival = login(porta, client)
    assert client.exchange_code(arrival.url, request).sub


def test_private_key_jwt(porta: Any, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    probe = Client(porta.issuer, "unused", private_key=key)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(probe.public_jwks()))
    creds = porta.create_client(
        "SDK pkjwt", [CALLBACK], token_endpoint_auth_method="private_key_jwt",
        extra=["--jwks-file", str(jwks_file)],
    )
    client = Client.from_issuer(porta.issuer, creds["client_id"], redirect_uri=CALLBACK, private_key=key)
    request, arrival = login(porta, client)
    assert client.exchange_code(arrival.url, request).sub


def test_dynamic_registration_and_form_post(porta: Any) -> None:
    client = Client.register(
        porta.issuer, redirect_uris=[CALLBACK], client_name="SDK registered",
        token_endpoint_auth_method="client_secret_basic",
    )
    assert client.client_id and client.client_secret
    request, arrival = login(porta, client, response_mode="form_post")
    assert arrival.form is not None and arrival.form["iss"] == porta.issuer
    assert client.exchange_code(arrival.form, request).sub


def test_denied_consent_is_access_denied(porta: Any) -> None:
    client = make_client(porta, "SDK denied")
    request = client.authorization_url("openid email")
    arrival = porta.login(
        request.url, CALLBACK, PORTA_USER["email"], PORTA_USER["password"], deny=True
    )
    with pytest.raises(OAuthError) as caught:
        client.exchange_code(arrival.url, request)
    assert caught.value.error == "access_denied"


def test_client_credentials(porta: Any) -> None:
    creds = porta.create_client(
        "SDK service", [CALLBACK], grant_types=["client_credentials"]
    )
    client = Client.from_issuer(porta.issuer, creds["client_id"], creds["client_secret"])
    tokens = client.client_credentials()
    assert tokens.access_token and tokens.id_token is None
    assert client.introspect(tokens.access_token)["active"] is True


def test_consent_receipt_from_the_token_response_verifies(porta: Any) -> None:
    """DESIGN §4: Porta hands the RP a signed consent receipt with the tokens."""
    client = make_client(porta, "SDK receipt")
    request, arrival = login(porta, client)
    tokens = client.exchange_code(arrival.url, request)
    assert tokens.consent_receipt is not None, "Porta's token response must carry a consent_receipt"
    claims = client.verify_consent_receipt(tokens.consent_receipt)
    assert claims["sub"] == tokens.sub
    assert claims["consent_record"]["state"] in ("given", "renewed")


def test_consent_receipts_endpoint_lists_this_clients_receipts(porta: Any) -> None:
    client = make_client(porta, "SDK receipts API")
    request, arrival = login(porta, client)
    tokens = client.exchange_code(arrival.url, request)
    receipts = client.consent_receipts(sub=tokens.sub)
    assert receipts, "the person consented, so the provider holds a receipt"
    claims = [client.verify_consent_receipt(receipt) for receipt in receipts]
    assert {c["sub"] for c in claims} == {tokens.sub}
    assert tokens.consent_receipt in receipts
