"""Token revocation (RFC 7009) and introspection (RFC 7662) over HTTP."""

from __future__ import annotations

import jwt
import pytest

from tests.conftest import (
    ISSUER,
    assert_oauth_error,
    basic,
    basic_auth,
    bearer,
    introspect,
    obtain_code,
    pkce_pair,
    token_request,
    tokens_for,
)


def revoke(http, client, token: str, **extra: str):
    """POST /revoke authenticated with client_secret_basic."""
    return http.post("/revoke", data={"token": token, **extra}, headers=basic(client))


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoked_access_token_stops_working(browser, new_client, hint):
    """RFC 7009 §2.1-§2.2: revocation answers 200 and the token is invalid at once; a wrong
    token_type_hint only changes where the server looks first."""
    client = new_client()
    issued = tokens_for(browser, client)
    extra = {"token_type_hint": hint} if hint else {}
    response = revoke(browser, client, issued["access_token"], **extra)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 401
    assert introspect(browser, client, issued["access_token"]) == {"active": False}


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoked_refresh_token_takes_the_grants_access_tokens_with_it(browser, new_client, hint):
    """RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens of the
    same authorization grant."""
    client = new_client()
    issued = tokens_for(browser, client)
    extra = {"token_type_hint": hint} if hint else {}
    assert revoke(browser, client, issued["refresh_token"], **extra).status_code == 200
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 401
    refreshed = token_request(browser, client, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert_oauth_error(refreshed, 400, "invalid_grant")
    assert introspect(browser, client, issued["refresh_token"]) == {"active": False}
    assert introspect(browser, client, issued["access_token"]) == {"active": False}


@pytest.mark.parametrize("token", ["unknown-token", "a.b.c", "x" * 2000])
def test_unknown_tokens_are_revoked_without_error(anon, new_client, token):
    """RFC 7009 §2.2: invalid tokens do not cause an error response (200)."""
    client = new_client()
    response = revoke(anon, client, token)
    assert response.status_code == 200 and response.get_data() == b""


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_a_client_cannot_revoke_another_clients_token(browser, new_client, which):
    """RFC 7009 §2.1: the server checks that the token was issued to the requesting client;
    the owner's tokens keep working."""
    owner, other = new_client(), new_client()
    issued = tokens_for(browser, owner)
    assert revoke(browser, other, issued[which]).status_code == 200  # no oracle either way
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 200
    again = token_request(browser, owner, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert again.status_code == 200


def test_revocation_requires_client_authentication(browser, new_client):
    """RFC 7009 §2.1: confidential clients authenticate; a failure is 401 and revokes nothing."""
    client = new_client()
    issued = tokens_for(browser, client)
    attempts = [
        ({}, {}),
        ({}, {"client_id": client.client_id}),
        (basic_auth(client.client_id, "not-the-secret"), {}),
    ]
    for headers, form in attempts:
        response = browser.post("/revoke", data={"token": issued["access_token"], **form}, headers=headers)
        assert_oauth_error(response, 401, "invalid_client")
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 200


def test_public_client_can_revoke_its_own_token(browser, new_client):
    """RFC 7009 §5 / RFC 8252 §8.5: a public client identifies itself with client_id."""
    client = new_client(token_endpoint_auth_method="none")
    verifier, challenge = pkce_pair()
    code = obtain_code(browser, client, code_challenge=challenge, code_challenge_method="S256")["code"]
    issued = token_request(
        browser, client, grant_type="authorization_code", code=code, redirect_uri=client.redirect_uri,
        client_id=client.client_id, code_verifier=verifier,
    ).get_json()
    response = browser.post("/revoke", data={"token": issued["access_token"], "client_id": client.client_id})
    assert response.status_code == 200
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 401


def test_introspection_of_an_active_access_token(browser, new_client):
    """RFC 7662 §2.2: active, scope, client_id, token_type, exp, iat, sub, aud, iss, jti; the
    values agree with the token itself and with the ID token's sub."""
    client, resource_server = new_client(), new_client()
    issued = tokens_for(browser, client, scope="openid email offline_access")
    response = browser.post("/introspect", data={"token": issued["access_token"]}, headers=basic(resource_server))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    id_claims = jwt.decode(issued["id_token"], options={"verify_signature": False})
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert body["scope"] == "openid email offline_access"
    assert body["client_id"] == client.client_id
    assert body["sub"] == id_claims["sub"] == claims["sub"]
    assert body["iss"] == ISSUER and body["aud"] == claims["aud"]
    assert body["exp"] == claims["exp"] and body["iat"] == claims["iat"] and body["jti"] == claims["jti"]
    assert body["exp"] > body["iat"]


def test_introspection_of_a_refresh_token_is_for_its_client_only(browser, new_client):
    """RFC 7662 §2.1-§2.2: a refresh token is described to the client it was issued to; to any
    other client it is simply inactive (no leak of another client's grants)."""
    client, other = new_client(), new_client()
    issued = tokens_for(browser, client)
    mine = introspect(browser, client, issued["refresh_token"])
    assert mine["active"] is True and mine["client_id"] == client.client_id
    assert mine["token_type"] == "refresh_token" and "offline_access" in mine["scope"]
    assert introspect(browser, other, issued["refresh_token"]) == {"active": False}
    rotated = token_request(browser, client, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert rotated.status_code == 200
    assert introspect(browser, client, issued["refresh_token"]) == {"active": False}
    assert introspect(browser, client, rotated.get_json()["refresh_token"])["active"] is True


def test_public_clients_cannot_introspect(browser, new_client):
    """RFC 7662 §2.1 and §4: the endpoint requires authorization; Porta accepts only
    authenticated (confidential) clients, so a public client gets invalid_client."""
    public = new_client(token_endpoint_auth_method="none")
    issued = tokens_for(browser, new_client())
    response = browser.post("/introspect", data={"token": issued["access_token"], "client_id": public.client_id})
    body = assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in body


def test_introspection_requires_authentication(browser, new_client):
    """RFC 7662 §2.1: unauthenticated callers learn nothing about a token."""
    issued = tokens_for(browser, new_client())
    response = browser.post("/introspect", data={"token": issued["access_token"]})
    body = assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in body


def test_client_credentials_token_introspects_without_a_person(anon, new_client):
    """RFC 7662 §2.2 for a token with no resource owner: sub is the client itself."""
    client = new_client(grant_types=["client_credentials"], redirect_uris=None, scope="inventory:read")
    issued = token_request(anon, client, grant_type="client_credentials", scope="inventory:read").get_json()
    body = introspect(anon, client, issued["access_token"])
    assert body["active"] is True and body["sub"] == client.client_id and body["scope"] == "inventory:read"
    assert revoke(anon, client, issued["access_token"]).status_code == 200
    assert introspect(anon, client, issued["access_token"]) == {"active": False}
