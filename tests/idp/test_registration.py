"""Dynamic client registration (RFC 7591) and client management (RFC 7592) over HTTP."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp.storage.models import Client
from tests.conftest import (
    ISSUER,
    RegisteredClient,
    assert_oauth_error,
    bearer,
    count_rows,
    exchange,
    obtain_code,
)

DOCUMENT = {
    "client_name": "Registered RP",
    "redirect_uris": ["https://rp.example/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
}


def register(http, document=None, headers=None):
    """POST a registration request (RFC 7591 §3.1)."""
    body = DOCUMENT if document is None else document
    return http.post("/register", data=json.dumps(body), content_type="application/json", headers=headers or {})


def _public_jwk(private=False) -> dict:
    import jwt

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key if private else key.public_key()))
    return {**jwk, "kid": "k1"}


def _private_rsa_jwk() -> dict:
    import jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))


def test_registration_returns_credentials_and_management_uri(anon):
    """RFC 7591 §3.2.1: client_id, client_secret (+ expiry), metadata as registered; RFC 7592
    §3: registration_access_token and registration_client_uri."""
    response = register(anon)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["client_id"] and body["client_secret"] and body["registration_access_token"]
    assert body["registration_client_uri"] == f"{ISSUER}/register/{body['client_id']}"
    assert body["client_secret_expires_at"] == 0 and isinstance(body["client_id_issued_at"], int)
    assert body["redirect_uris"] == DOCUMENT["redirect_uris"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_name"] == "Registered RP"


def test_client_cannot_choose_its_own_id_or_secret(anon):
    """RFC 7591 §3.2.1: the server issues client_id and client_secret; values in the request
    are ignored, as are unknown members."""
    body = register(anon, {**DOCUMENT, "client_id": "chosen", "client_secret": "mine", "is_admin": True}).get_json()
    assert body["client_id"] != "chosen" and body["client_secret"] != "mine"
    assert "is_admin" not in body


INVALID = {
    "no_redirect_uris": ({"redirect_uris": None}, "invalid_redirect_uri", "redirect_uris"),
    "empty_redirect_uris": ({"redirect_uris": []}, "invalid_redirect_uri", "redirect_uris"),
    "redirect_uris_not_list": ({"redirect_uris": "https://rp.example/cb"}, "invalid_redirect_uri", "redirect_uris"),
    "http_not_loopback": ({"redirect_uris": ["http://rp.example/cb"]}, "invalid_redirect_uri", "redirect_uris.0"),
    "fragment": ({"redirect_uris": ["https://rp.example/cb#x"]}, "invalid_redirect_uri", "redirect_uris.0"),
    "relative": ({"redirect_uris": ["/cb"]}, "invalid_redirect_uri", "redirect_uris.0"),
    "javascript_scheme": ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri", "redirect_uris.0"),
    "custom_scheme_for_web": ({"redirect_uris": ["com.example.app:/cb"]}, "invalid_redirect_uri", "redirect_uris.0"),
    "second_uri_bad": (
        {"redirect_uris": ["https://rp.example/cb", "http://rp.example/cb"]}, "invalid_redirect_uri", "redirect_uris.1"
    ),
    "post_logout_http": (
        {"post_logout_redirect_uris": ["http://rp.example/bye"]}, "invalid_redirect_uri", "post_logout_redirect_uris.0"
    ),
    "unknown_auth_method": ({"token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata", "token_endpoint_auth_method"),
    "implicit_grant": ({"grant_types": ["implicit"]}, "invalid_client_metadata", "grant_types"),
    "token_response_type": ({"response_types": ["token"]}, "invalid_client_metadata", "response_types"),
    "grant_response_mismatch": (
        {"grant_types": ["client_credentials"], "response_types": ["code"]}, "invalid_client_metadata", "grant_types"
    ),
    "public_client_credentials": (
        {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"], "redirect_uris": None},
        "invalid_client_metadata",
        "grant_types",
    ),
    "private_key_jwt_without_keys": ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),
    "jwks_with_private_ec_key": (
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [_public_jwk(private=True)]}},
        "invalid_client_metadata",
        "jwks.keys.0",
    ),
    "jwks_with_private_rsa_key": (
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [_private_rsa_jwk()]}},
        "invalid_client_metadata",
        "jwks.keys.0",
    ),
    "jwks_with_symmetric_key": (
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
        "invalid_client_metadata",
        "jwks.keys.0",
    ),
    "jwks_unusable_key": (
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC", "crv": "P-256"}]}},
        "invalid_client_metadata",
        "jwks.keys.0",
    ),
    "jwks_and_jwks_uri": (
        {"jwks": {"keys": [_public_jwk()]}, "jwks_uri": "https://rp.example/jwks"}, "invalid_client_metadata", "jwks"
    ),
    "jwks_uri_http": ({"jwks_uri": "http://rp.example/jwks"}, "invalid_client_metadata", "jwks_uri"),
    "id_token_alg_none": ({"id_token_signed_response_alg": "none"}, "invalid_client_metadata", "id_token_signed_response_alg"),
    "id_token_alg_hs256": ({"id_token_signed_response_alg": "HS256"}, "invalid_client_metadata", "id_token_signed_response_alg"),
    "subject_type_unknown": ({"subject_type": "global"}, "invalid_client_metadata", "subject_type"),
    "pairwise_two_hosts": (
        {"redirect_uris": ["https://a.example/cb", "https://b.example/cb"]}, "invalid_client_metadata", "redirect_uris"
    ),
    "sector_identifier_uri": ({"sector_identifier_uri": "https://rp.example/sector"}, "invalid_client_metadata", "sector_identifier_uri"),
    "client_name_not_string": ({"client_name": 42}, "invalid_client_metadata", "client_name"),
    "client_name_empty": ({"client_name": ""}, "invalid_client_metadata", "client_name"),
    "default_max_age_negative": ({"default_max_age": -5}, "invalid_client_metadata", "default_max_age"),
    "policy_uri_javascript": ({"policy_uri": "javascript:alert(1)"}, "invalid_client_metadata", "policy_uri"),
    "tos_uri_javascript_mixed_case": ({"tos_uri": "JaVaScRiPt:alert(1)"}, "invalid_client_metadata", "tos_uri"),
    "client_uri_data": ({"client_uri": "data:text/html;base64,PHNjcmlwdD4="}, "invalid_client_metadata", "client_uri"),
    "logo_uri_file": ({"logo_uri": "file:///etc/passwd"}, "invalid_client_metadata", "logo_uri"),
    "contacts_not_list": ({"contacts": "a@rp.example"}, "invalid_client_metadata", "contacts"),
    "too_many_redirect_uris": (
        {"redirect_uris": [f"https://rp.example/cb{i}" for i in range(25)]}, "invalid_redirect_uri", "redirect_uris"
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_metadata_is_refused_naming_the_field(shared_app, anon, case):
    """RFC 7591 §3.2.2: invalid_redirect_uri or invalid_client_metadata, with an
    error_description that tells the developer which member is wrong; nothing is stored."""
    changes, error, field = INVALID[case]
    document = {k: v for k, v in {**DOCUMENT, **changes}.items() if v is not None}
    before = count_rows(shared_app, Client)
    body = assert_oauth_error(register(anon, document), 400, error)
    assert body["error_description"].startswith(field), body
    assert count_rows(shared_app, Client) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uris": ["http://127.0.0.1:8080/cb"]},
        {"redirect_uris": ["http://[::1]/cb"]},
        {"application_type": "native", "token_endpoint_auth_method": "none", "redirect_uris": ["com.example.app:/cb"]},
        {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [_public_jwk()]}},
        {"grant_types": ["client_credentials"], "redirect_uris": None, "scope": "inventory:read"},
        {"redirect_uris": ["https://a.example/cb", "https://b.example/cb"], "subject_type": "public"},
    ],
    ids=["loopback_ipv4", "loopback_ipv6", "native_private_scheme", "private_key_jwt", "client_credentials", "public_subject_two_hosts"],
)
def test_valid_variants_are_accepted(anon, changes):
    """RFC 8252 §7.1/§7.3 (native redirects), OIDC Core §9 (private_key_jwt), RFC 6749 §4.4."""
    document = {k: v for k, v in {**DOCUMENT, **changes}.items() if v is not None}
    response = register(anon, document)
    assert response.status_code == 201, response.get_json()
    assert ("client_secret" in response.get_json()) == (
        document.get("token_endpoint_auth_method", "client_secret_basic").startswith("client_secret")
    )


def test_read_update_delete_with_the_registration_access_token(anon):
    """RFC 7592 §2.1 read, §2.2 update (full replacement), §2.3 delete (204; then 401)."""
    created = register(anon).get_json()
    uri = created["registration_client_uri"].removeprefix(ISSUER)
    token = bearer(created["registration_access_token"])

    read = anon.get(uri, headers=token)
    assert read.status_code == 200
    assert read.get_json()["client_id"] == created["client_id"]
    assert "client_secret" not in read.get_json()

    update = {**DOCUMENT, "client_id": created["client_id"], "redirect_uris": ["https://rp.example/new"]}
    updated = anon.put(uri, data=json.dumps(update), content_type="application/json", headers=token)
    assert updated.status_code == 200, updated.get_json()
    assert anon.get(uri, headers=token).get_json()["redirect_uris"] == ["https://rp.example/new"]

    assert anon.delete(uri, headers=token).status_code == 204
    assert_oauth_error(anon.get(uri, headers=token), 401, "invalid_token")
    gone = anon.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + _b64(f"{created['client_id']}:{created['client_secret']}")},
    )
    assert_oauth_error(gone, 401, "invalid_client")


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("credential", ["wrong", "none", "other_clients", "client_secret", "basic_scheme"])
def test_management_needs_this_clients_registration_access_token(anon, method, credential):
    """RFC 7592 §2: a missing or wrong registration access token is 401 (RFC 6750 §3.1) and
    changes nothing; one client's token never manages another."""
    mine = register(anon).get_json()
    other = register(anon).get_json()
    uri = mine["registration_client_uri"].removeprefix(ISSUER)
    headers = {
        "wrong": bearer("not-the-token"),
        "none": {},
        "other_clients": bearer(other["registration_access_token"]),
        "client_secret": bearer(mine["client_secret"]),
        "basic_scheme": {"Authorization": "Basic " + _b64(f"{mine['client_id']}:{mine['registration_access_token']}")},
    }[credential]
    update = {**DOCUMENT, "client_id": mine["client_id"], "redirect_uris": ["https://attacker.example/cb"]}
    response = getattr(anon, method)(uri, data=json.dumps(update), content_type="application/json", headers=headers)
    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    still = anon.get(uri, headers=bearer(mine["registration_access_token"]))
    assert still.status_code == 200 and still.get_json()["redirect_uris"] == DOCUMENT["redirect_uris"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"client_id": "someone-else"}, "invalid_client_metadata"),
        ({"client_id": None}, "invalid_client_metadata"),
        ({"client_secret": "not-the-secret"}, "invalid_client_metadata"),
        ({"redirect_uris": ["http://attacker.example/cb"]}, "invalid_redirect_uri"),
    ],
    ids=["other_client_id", "missing_client_id", "wrong_secret", "bad_redirect_uri"],
)
def test_invalid_update_changes_nothing(anon, changes, error):
    """RFC 7592 §2.2: the request must carry the client_id (and the current secret if any);
    invalid metadata is refused as at registration."""
    created = register(anon).get_json()
    uri = created["registration_client_uri"].removeprefix(ISSUER)
    token = bearer(created["registration_access_token"])
    update = {k: v for k, v in {**DOCUMENT, "client_id": created["client_id"], **changes}.items() if v is not None}
    response = anon.put(uri, data=json.dumps(update), content_type="application/json", headers=token)
    assert_oauth_error(response, 400, error)
    assert anon.get(uri, headers=token).get_json()["redirect_uris"] == DOCUMENT["redirect_uris"]


def test_registered_client_completes_the_code_flow(browser):
    """RFC 7591 §3: a dynamically registered client is a client like any other."""
    created = register(browser).get_json()
    client = RegisteredClient(created["client_id"], created["client_secret"], DOCUMENT["redirect_uris"][0], created)
    code = obtain_code(browser, client, scope="openid offline_access")["code"]
    response = exchange(browser, client, code)
    assert response.status_code == 200, response.get_json()
    assert {"access_token", "id_token", "refresh_token"} <= set(response.get_json())


def test_token_policy_requires_the_initial_access_token(make_app):
    """RFC 7591 §3: with REGISTRATION=token, only holders of the initial access token register."""
    app = make_app(REGISTRATION="token", REGISTRATION_INITIAL_ACCESS_TOKEN="initial-token-123")
    http = app.test_client()
    for headers in ({}, bearer("wrong"), {"Authorization": "Basic aW5pdGlhbC10b2tlbi0xMjM6"}):
        response = register(http, headers=headers)
        assert_oauth_error(response, 401, "invalid_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count_rows(app, Client) == 0
    assert register(http, headers=bearer("initial-token-123")).status_code == 201


def test_closed_policy_removes_the_endpoint(make_app):
    """RFC 8414 §2 / OIDC Discovery §3: registration_endpoint is absent when registration is
    closed, and the endpoint answers 404 with a JSON error."""
    app = make_app(REGISTRATION="closed")
    http = app.test_client()
    metadata = http.get("/.well-known/openid-configuration").get_json()
    assert "registration_endpoint" not in metadata and metadata["issuer"] == ISSUER
    response = register(http)
    assert_oauth_error(response, 404)
    assert count_rows(app, Client) == 0
