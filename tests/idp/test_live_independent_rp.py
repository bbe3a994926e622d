"""An independent, OpenID-certified RP library (pyoidc, package `oic`) against `porta serve`.

Porta is set up only through the `porta` CLI, served by the production
server on 127.0.0.1, and driven by pyoidc: discovery, code flow with PKCE,
ID token validation, UserInfo and refresh with rotation. Nothing here uses
Porta's own SDK, so a shared misunderstanding of the specs cannot hide.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import pytest
import requests

from tests.live import LivePorta, browser_login

oic = pytest.importorskip("oic")

from oic import rndstr  # noqa: E402
from oic.oic import Client  # noqa: E402
from oic.oic.message import (  # noqa: E402
    AccessTokenResponse,
    AuthorizationResponse,
    OpenIDSchema,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD  # noqa: E402

EMAIL = "olivia@example.org"
PASSWORD = "olivia-password-1"
REDIRECT = "http://127.0.0.1:9/callback"  # nothing listens: the redirect is captured


@pytest.fixture(scope="module")
def porta(tmp_path_factory):
    server = LivePorta(tmp_path_factory.mktemp("live-oic"))
    server.create_user(EMAIL, PASSWORD, "Olivia Oic")
    creds = server.create_client("--name", "pyoidc RP", "--redirect-uri", REDIRECT)
    with server.start(workers=2):
        yield server, creds


def _rp(porta_server: LivePorta, creds: dict, alg: str = "ES256") -> Client:
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(porta_server.issuer)
    client.store_registration_info(
        RegistrationResponse(
            client_id=creds["client_id"],
            client_secret=creds["client_secret"],
            redirect_uris=[REDIRECT],
            id_token_signed_response_alg=alg,
        )
    )
    client.redirect_uris = [REDIRECT]
    return client


def _code_flow(porta_server: LivePorta, rp: Client, scope: str):
    state, nonce = rndstr(), rndstr()
    pkce_args, verifier = rp.add_code_challenge()
    request = rp.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "redirect_uri": REDIRECT,
            **pkce_args,
        }
    )
    url = request.request(rp.authorization_endpoint)
    with requests.Session() as browser:
        location = browser_login(browser, url, EMAIL, PASSWORD, REDIRECT)
    response = rp.parse_response(AuthorizationResponse, info=urlsplit(location).query, sformat="urlencoded")
    assert response["state"] == state
    assert response["iss"] == porta_server.issuer  # RFC 9207
    tokens = rp.do_access_token_request(
        state=state,
        request_args={"code": response["code"], "code_verifier": verifier, "redirect_uri": REDIRECT},
        authn_method="client_secret_basic",
    )
    return tokens, state, nonce


def test_pyoidc_discovers_porta(porta):
    server, creds = porta
    rp = _rp(server, creds)
    assert rp.provider_info["issuer"] == server.issuer
    assert "S256" in rp.provider_info["code_challenge_methods_supported"]


def test_pyoidc_code_flow_pkce_userinfo_and_refresh_rotation(porta):
    server, creds = porta
    rp = _rp(server, creds)
    tokens, state, nonce = _code_flow(server, rp, "openid profile email offline_access")
    assert isinstance(tokens, AccessTokenResponse), tokens
    id_token = tokens["id_token"]  # pyoidc verified signature (JWKS), iss, aud, exp, iat, at_hash
    assert id_token["iss"] == server.issuer
    assert id_token["aud"] == [creds["client_id"]]
    assert id_token["nonce"] == nonce
    assert id_token.jws_header["alg"] == "ES256"

    info = rp.do_user_info_request(state=state)
    assert isinstance(info, OpenIDSchema), info
    assert info["sub"] == id_token["sub"]
    assert info["email"] == EMAIL and info["name"] == "Olivia Oic"

    first_refresh = tokens["refresh_token"]
    refreshed = rp.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed
    assert refreshed["refresh_token"] != first_refresh  # rotated
    # The rotated-out token is now a reuse: Porta refuses it and revokes the family.
    reuse = requests.post(
        rp.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(creds["client_id"], creds["client_secret"]),
        timeout=10,
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = requests.post(
        rp.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(creds["client_id"], creds["client_secret"]),
        timeout=10,
    )
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_pyoidc_verifies_rs256_id_tokens_for_clients_that_register_it(porta):
    """A client registered through the CLI for RS256 gets RS256 ID tokens that pyoidc verifies."""
    server, _ = porta
    creds = server.create_client(
        "--name", "pyoidc RS256", "--redirect-uri", REDIRECT, "--id-token-alg", "RS256"
    )
    rp = _rp(server, creds, alg="RS256")
    tokens, _state, _nonce = _code_flow(server, rp, "openid")
    assert tokens["id_token"].jws_header["alg"] == "RS256"
    assert secrets.compare_digest(tokens["id_token"]["azp"], creds["client_id"])
