"""The authorization code flow end to end over the WSGI interface (OIDC Core §3.1)."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import jwt
import pytest

from tests.conftest import (
    ISSUER,
    authorize,
    basic,
    callback_params,
    consent,
    exchange,
    login,
    obtain_code,
    pkce_pair,
    token_request,
)


def _keys(http) -> dict[str, jwt.PyJWK]:
    return {k["kid"]: jwt.PyJWK(k) for k in http.get("/jwks.json").get_json()["keys"]}


def decode_id_token(http, token: str, audience: str) -> dict:
    """Validate an ID token the way OIDC Core §3.1.3.7 asks an RP to."""
    header = jwt.get_unverified_header(token)
    key = _keys(http)[header["kid"]]
    return jwt.decode(token, key.key, algorithms=[header["alg"]], audience=audience, issuer=ISSUER)


def test_code_flow_issues_valid_id_token_with_at_hash_auth_time_sid(http, rp, user):
    params = obtain_code(http, rp, scope="openid profile email", nonce="nonce-123", state="xyz")
    assert params["state"] == "xyz"
    assert params["iss"] == ISSUER  # RFC 9207 §2
    response = exchange(http, rp, params["code"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body  # no offline_access asked
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "ES256"
    claims = decode_id_token(http, body["id_token"], rp.client_id)
    assert claims["nonce"] == "nonce-123"
    assert claims["azp"] == rp.client_id
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= time.time() + 1
    assert claims["sid"]
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    # Scope claims go to UserInfo when an access token is issued (OIDC Core §5.4).
    assert "email" not in claims


def test_access_token_is_rfc9068_jwt(http, rp, user):
    params = obtain_code(http, rp, scope="openid email")
    body = exchange(http, rp, params["code"]).get_json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    key = _keys(http)[header["kid"]]
    claims = jwt.decode(body["access_token"], key.key, algorithms=[header["alg"]], audience=ISSUER)
    for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):
        assert name in claims
    assert claims["client_id"] == rp.client_id
    assert claims["scope"] == "openid email"


def test_rs256_id_token_when_client_registers_it(http, register, user):
    client = register(id_token_signed_response_alg="RS256")
    params = obtain_code(http, client)
    body = exchange(http, client, params["code"]).get_json()
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    decode_id_token(http, body["id_token"], client.client_id)


@pytest.mark.parametrize(
    ("scope", "expected", "absent"),
    [
        ("openid profile", {"name": "Alice Example", "given_name": "Alice", "locale": "en-GB"}, ["email", "phone_number"]),
        ("openid email", {"email": "alice@example.org", "email_verified": True}, ["name"]),
        ("openid address", {"address": {"street_address": "1 Main St", "locality": "Leeds", "country": "GB"}}, ["email"]),
        ("openid phone", {"phone_number": "+44 20 7946 0000"}, ["email", "name"]),
    ],
)
def test_userinfo_returns_standard_claims_per_scope(http, rp, user, scope, expected, absent):
    params = obtain_code(http, rp, scope=scope)
    token = exchange(http, rp, params["code"]).get_json()["access_token"]
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()
    for name, value in expected.items():
        assert info[name] == value
    for name in absent:
        assert name not in info
    assert info["sub"]


def test_userinfo_accepts_post_with_token_in_body(http, tokens):
    response = http.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert response.status_code == 200
    assert response.get_json()["email"] == "alice@example.org"


def test_userinfo_without_token_challenges(http):
    response = http.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert "error=" not in response.headers["WWW-Authenticate"]  # RFC 6750 §3.1


def test_userinfo_with_bad_token_says_invalid_token(http):
    response = http.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.get_json()["error"] == "invalid_token"


def test_userinfo_sub_matches_id_token_sub(http, rp, user):
    params = obtain_code(http, rp)
    body = exchange(http, rp, params["code"]).get_json()
    claims = decode_id_token(http, body["id_token"], rp.client_id)
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    assert info["sub"] == claims["sub"]


def test_refresh_token_rotates(http, rp, tokens):
    first = tokens["refresh_token"]
    response = token_request(http, rp, grant_type="refresh_token", refresh_token=first)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["refresh_token"] != first
    assert body["access_token"] != tokens["access_token"]
    decode_id_token(http, body["id_token"], rp.client_id)
    second = token_request(http, rp, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert second.status_code == 200


def test_refresh_may_narrow_scope_but_not_widen(http, rp, tokens):
    narrowed = token_request(http, rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"], scope="openid offline_access")
    assert narrowed.status_code == 200
    assert narrowed.get_json()["scope"] == "openid offline_access"
    widened = token_request(http, rp, grant_type="refresh_token", refresh_token=narrowed.get_json()["refresh_token"], scope="openid phone offline_access")
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_scope"


def test_form_post_response_mode_renders_autosubmit_form(http, rp, user):
    response = authorize(http, rp, response_mode="form_post", state="fp")
    response = consent(http, login(http, response))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'action="{rp.redirect_uri}"' in html
    assert 'name="state" value="fp"' in html
    assert f'name="iss" value="{ISSUER}"' in html
    assert re.search(r'name="code" value="[^"]+"', html)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_consent_is_remembered_and_prompt_consent_asks_again(http, rp, user):
    obtain_code(http, rp)
    again = authorize(http, rp)
    assert again.status_code == 302  # logged in and consented: straight back
    assert "code" in callback_params(again.headers["Location"])
    asked = authorize(http, rp, prompt="consent")
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/consent")


def test_prompt_none_without_login_gives_login_required(http, rp):
    response = authorize(http, rp, prompt="none", state="s1")
    assert response.status_code == 302
    params = callback_params(response.headers["Location"])
    assert params == {"error": "login_required", "error_description": params["error_description"], "state": "s1", "iss": ISSUER}


def test_prompt_none_without_consent_gives_consent_required(http, rp, register, user):
    obtain_code(http, rp)
    other = register(client_name="Other RP", redirect_uris=["https://other.example/cb"])
    response = authorize(http, other, prompt="none")
    assert callback_params(response.headers["Location"])["error"] == "consent_required"


def test_prompt_login_forces_a_fresh_login(http, rp, user):
    obtain_code(http, rp)
    response = authorize(http, rp, prompt="login")
    assert response.headers["Location"].startswith("/login")
    response = login(http, response)
    assert response.status_code == 302
    assert "code" in callback_params(response.headers["Location"])


def test_max_age_zero_forces_login(http, rp, user):
    obtain_code(http, rp)
    response = authorize(http, rp, max_age="0")
    assert response.headers["Location"].startswith("/login")


def test_login_hint_prefills_email(http, rp):
    response = authorize(http, rp, login_hint="alice@example.org")
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="alice@example.org"' in page


def test_deny_returns_access_denied(http, rp, user):
    response = consent(http, login(http, authorize(http, rp, state="d")), decision="deny")
    params = callback_params(response.headers["Location"])
    assert params["error"] == "access_denied" and params["state"] == "d" and params["iss"] == ISSUER


def test_public_client_with_pkce(http, register, user):
    client = register(token_endpoint_auth_method="none")
    verifier, challenge = pkce_pair()
    params = obtain_code(http, client, code_challenge=challenge, code_challenge_method="S256")
    response = exchange(http, client, params["code"], client_id=client.client_id, code_verifier=verifier)
    assert response.status_code == 200, response.get_json()


def test_client_secret_post(http, register, user):
    client = register(token_endpoint_auth_method="client_secret_post")
    params = obtain_code(http, client)
    response = token_request(
        http,
        client,
        headers={},
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=client.redirect_uri,
        client_id=client.client_id,
        client_secret=client.client_secret,
    )
    assert response.status_code == 200, response.get_json()


def test_client_credentials(http, register):
    client = register(grant_types=["client_credentials"], redirect_uris=None, scope="inventory:read")
    response = token_request(http, client, grant_type="client_credentials", scope="inventory:read")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "id_token" not in body and "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == client.client_id


def test_basic_auth_credentials_are_form_urlencoded(http, register, user):
    """RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding."""
    client = register()
    params = obtain_code(http, client)
    raw = f"{client.client_id}:{client.client_secret}".replace("-", "%2D").encode()
    header = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    response = token_request(http, client, headers=header, grant_type="authorization_code", code=params["code"], redirect_uri=client.redirect_uri)
    assert response.status_code == 200, response.get_json()
    assert basic(client) != header or "-" not in client.client_secret
