"""Client behaviour against the fake provider: discovery, callback checks, client authentication,
PAR, userinfo, refresh, revocation, introspection, logout URL, client credentials."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sdk_fake_op import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, FakeProvider, at_hash

from client_sdk import (
    AuthorizationRequest,
    AuthorizationResponseError,
    Client,
    DiscoveryError,
    IDTokenError,
    OAuthError,
    ResponseValidationError,
    TokenSet,
)


def make_client(fake_op: FakeProvider, **options: Any) -> Client:
    return Client.from_issuer(
        fake_op.issuer, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT_URI, **options
    )


def good_answer(fake_op: FakeProvider, request: AuthorizationRequest, **extra: Any) -> None:
    fake_op.answer_with(
        lambda at: fake_op.ec.sign(fake_op.claims(request.nonce, at_hash=at_hash(at))), **extra
    )


def callback(request: AuthorizationRequest, **params: str) -> dict[str, str]:
    return {"code": "the-code", "state": request.state, **params}


# ---------------------------------------------------------------- discovery
def test_discovery_issuer_mismatch_is_an_error(fake_op: FakeProvider) -> None:
    fake_op.metadata_issuer = "https://impostor.example"
    with pytest.raises(DiscoveryError, match="must be identical"):
        make_client(fake_op)


def test_discovery_of_an_unreachable_issuer_says_where_it_looked() -> None:
    with pytest.raises(DiscoveryError, match="openid-configuration"):
        Client.from_issuer("http://127.0.0.1:9", "x", timeout=2)


def test_metadata_is_cached_until_its_ttl_passes(fake_op: FakeProvider) -> None:
    now = [0.0]
    client = make_client(fake_op, metadata_ttl=100, clock=lambda: now[0])
    fake_op.metadata_overrides = {"userinfo_endpoint": fake_op.issuer + "/moved"}
    assert client.metadata()["userinfo_endpoint"].endswith("/userinfo")
    now[0] = 101
    assert client.metadata()["userinfo_endpoint"].endswith("/moved")


# ---------------------------------------------------------------- authorization request
def test_authorization_url_always_uses_pkce_s256_state_and_nonce(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url(
        "openid profile", prompt="consent", claims={"userinfo": {"email": {"essential": True}}}
    )
    query = parse_qs(urlsplit(request.url).query)
    assert query["code_challenge_method"] == ["S256"]
    expected = base64.urlsafe_b64encode(
        __import__("hashlib").sha256(request.code_verifier.encode()).digest()
    ).rstrip(b"=").decode()
    assert query["code_challenge"] == [expected]
    assert query["state"] == [request.state] and query["nonce"] == [request.nonce]
    assert query["response_type"] == ["code"] and query["scope"] == ["openid profile"]
    assert json.loads(query["claims"][0]) == {"userinfo": {"email": {"essential": True}}}
    assert 43 <= len(request.code_verifier) <= 128
    again = client.authorization_url()
    assert again.state != request.state and again.code_verifier != request.code_verifier
    restored = AuthorizationRequest.from_dict(json.loads(json.dumps(request.to_dict())))
    assert restored == request


@pytest.mark.parametrize("name", ["state", "nonce", "code_challenge", "code_challenge_method", "client_id"])
def test_security_parameters_cannot_be_overridden(fake_op: FakeProvider, name: str) -> None:
    client = make_client(fake_op)
    with pytest.raises(ValueError, match=name):
        client.authorization_url("openid", **{name: "chosen-by-caller"})


def test_par_is_used_when_the_provider_requires_it(fake_op: FakeProvider) -> None:
    fake_op.metadata_overrides = {"require_pushed_authorization_requests": True}
    client = make_client(fake_op)
    request = client.authorization_url("openid")
    query = parse_qs(urlsplit(request.url).query)
    assert query == {"client_id": [CLIENT_ID], "request_uri": ["urn:ietf:params:oauth:request_uri:abc"]}
    pushed = fake_op.requests[-1]
    assert pushed["path"] == "/par"
    assert pushed["form"]["code_challenge_method"] == "S256"
    assert pushed["form"]["state"] == request.state
    assert pushed["headers"]["Authorization"].startswith("Basic ")


# ---------------------------------------------------------------- authorization response
def test_state_mismatch_is_rejected_before_anything_else(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    with pytest.raises(AuthorizationResponseError, match="state"):
        client.exchange_code({"code": "x", "state": "forged", "iss": fake_op.issuer}, request)
    assert not fake_op.requests  # the code was never sent to the token endpoint


def test_iss_from_another_provider_is_rejected(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    with pytest.raises(AuthorizationResponseError, match="mix-up"):
        client.exchange_code(callback(request, iss="https://other.example"), request)


def test_missing_iss_is_rejected_when_the_provider_promises_it(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    with pytest.raises(AuthorizationResponseError, match="RFC 9207"):
        client.exchange_code(callback(request), request)


def test_missing_iss_is_accepted_from_providers_that_do_not_send_it(fake_op: FakeProvider) -> None:
    fake_op.metadata_overrides = {"authorization_response_iss_parameter_supported": False}
    client = make_client(fake_op)
    request = client.authorization_url()
    good_answer(fake_op, request)
    assert client.exchange_code(callback(request), request).sub == "alice"


def test_error_response_raises_oauth_error_with_the_providers_words(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    url = (
        f"{REDIRECT_URI}?error=access_denied&error_description=The+person+said+no"
        f"&state={request.state}&iss={fake_op.issuer}"
    )
    with pytest.raises(OAuthError, match="The person said no") as caught:
        client.exchange_code(url, request)
    assert caught.value.error == "access_denied"


def test_repeated_parameters_are_rejected(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    url = f"{REDIRECT_URI}?code=a&code=b&state={request.state}&iss={fake_op.issuer}"
    with pytest.raises(AuthorizationResponseError, match="repeats"):
        client.exchange_code(url, request)


def test_token_endpoint_error_is_an_oauth_error(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    with pytest.raises(OAuthError) as caught:
        client.exchange_code(callback(request, iss=fake_op.issuer), request)
    assert caught.value.error == "invalid_grant"
    assert caught.value.status_code == 400


def test_token_request_carries_code_verifier_and_redirect_uri(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    request = client.authorization_url()
    good_answer(fake_op, request, refresh_token="rt-1", scope="openid email")
    tokens = client.exchange_code(callback(request, iss=fake_op.issuer), request)
    sent = fake_op.requests[-1]["form"]
    assert sent == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request.code_verifier,
    }
    assert tokens.refresh_token == "rt-1" and tokens.scope == "openid email"
    assert TokenSet.from_dict(json.loads(json.dumps(tokens.to_dict()))) == tokens


# ---------------------------------------------------------------- client authentication
def run_token_request(fake_op: FakeProvider, client: Client) -> dict[str, Any]:
    request = client.authorization_url()
    good_answer(fake_op, request)
    client.exchange_code(callback(request, iss=fake_op.issuer), request)
    return fake_op.requests[-1]


def test_client_secret_basic_form_encodes_both_parts(fake_op: FakeProvider) -> None:
    client = Client.from_issuer(
        fake_op.issuer, CLIENT_ID, "s:e/c r+t", redirect_uri=REDIRECT_URI,
        id_token_signed_response_alg="ES256",
    )
    sent = run_token_request(fake_op, client)
    scheme, value = sent["headers"]["Authorization"].split(" ")
    user, password = base64.b64decode(value).decode().split(":")
    assert scheme == "Basic"
    assert (unquote(user), unquote(password)) == (CLIENT_ID, "s:e/c r+t")
    assert "client_secret" not in sent["form"]


def test_client_secret_post(fake_op: FakeProvider) -> None:
    client = make_client(fake_op, token_endpoint_auth_method="client_secret_post")
    sent = run_token_request(fake_op, client)
    assert sent["form"]["client_id"] == CLIENT_ID
    assert sent["form"]["client_secret"] == CLIENT_SECRET
    assert "Authorization" not in sent["headers"]


def test_private_key_jwt_assertion_is_signed_for_the_token_endpoint(fake_op: FakeProvider) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    client = Client.from_issuer(fake_op.issuer, CLIENT_ID, redirect_uri=REDIRECT_URI, private_key=key)
    assert client.token_endpoint_auth_method == "private_key_jwt"
    sent = run_token_request(fake_op, client)
    assert sent["form"]["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assertion = sent["form"]["client_assertion"]
    public = jwt.PyJWK(client.public_jwks()["keys"][0]).key
    claims = jwt.decode(assertion, public, algorithms=["ES256"], audience=fake_op.issuer + "/token")
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["jti"] and claims["exp"] > claims["iat"]
    assert jwt.get_unverified_header(assertion)["kid"] == client.public_jwks()["keys"][0]["kid"]


def test_public_client_sends_only_its_client_id(fake_op: FakeProvider) -> None:
    client = Client.from_issuer(fake_op.issuer, CLIENT_ID, redirect_uri=REDIRECT_URI)
    assert client.token_endpoint_auth_method == "none"
    sent = run_token_request(fake_op, client)
    assert sent["form"]["client_id"] == CLIENT_ID
    assert "Authorization" not in sent["headers"]
    assert "client_secret" not in sent["form"]


# ---------------------------------------------------------------- other endpoints
def logged_in(fake_op: FakeProvider, client: Client, **extra: Any) -> TokenSet:
    request = client.authorization_url("openid offline_access")
    good_answer(fake_op, request, **extra)
    return client.exchange_code(callback(request, iss=fake_op.issuer), request)


def test_userinfo_sub_must_match_the_id_token(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    tokens = logged_in(fake_op, client)
    fake_op.userinfo_response = ({"sub": "alice", "name": "Alice"}, 200, {})
    assert client.userinfo(tokens)["name"] == "Alice"
    assert fake_op.requests[-1]["headers"]["Authorization"] == f"Bearer {tokens.access_token}"
    fake_op.userinfo_response = ({"sub": "mallory", "name": "Mallory"}, 200, {})
    with pytest.raises(ResponseValidationError, match="MUST NOT be used"):
        client.userinfo(tokens)


def test_signed_userinfo_is_verified(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    tokens = logged_in(fake_op, client)
    signed = fake_op.rsa.sign({"sub": "alice", "iss": fake_op.issuer, "aud": CLIENT_ID, "name": "A"})
    fake_op.userinfo_response = (signed, 200, {})
    assert client.userinfo(tokens)["name"] == "A"
    fake_op.userinfo_response = (signed[:-4] + "AAAA", 200, {})
    with pytest.raises(ResponseValidationError, match="signature"):
        client.userinfo(tokens)


def test_userinfo_bearer_error_is_reported(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    fake_op.userinfo_response = (
        {}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'}
    )
    with pytest.raises(OAuthError, match="expired") as caught:
        client.userinfo("stale", expected_sub="alice")
    assert caught.value.error == "invalid_token"


def test_refresh_keeps_identity_and_rejects_a_changed_subject(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    tokens = logged_in(fake_op, client, refresh_token="rt-1")
    fake_op.answer_with(lambda at: fake_op.ec.sign(fake_op.claims(None, nonce=None)), refresh_token="rt-2")
    refreshed = client.refresh(tokens)
    assert fake_op.requests[-1]["form"] == {"grant_type": "refresh_token", "refresh_token": "rt-1"}
    assert refreshed.refresh_token == "rt-2" and refreshed.sub == "alice"
    fake_op.answer_with(lambda at: None)  # no rotation, no new ID token
    kept = client.refresh(refreshed, scope="openid")
    assert kept.refresh_token == "rt-2" and kept.sub == "alice"
    assert fake_op.requests[-1]["form"]["scope"] == "openid"
    fake_op.answer_with(lambda at: fake_op.ec.sign(fake_op.claims(None, nonce=None, sub="bob")))
    with pytest.raises(IDTokenError, match=r"§12\.2, sub"):
        client.refresh(refreshed)


def test_revoke_and_its_error(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    client.revoke("rt-1", token_type_hint="refresh_token")
    assert fake_op.requests[-1]["form"] == {"token": "rt-1", "token_type_hint": "refresh_token"}
    with pytest.raises(OAuthError) as caught:
        client.revoke("unrevocable")
    assert caught.value.error == "unsupported_token_type"


def test_introspect_needs_an_active_member(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    fake_op.introspection_response = {"active": True, "sub": "alice", "scope": "openid"}
    assert client.introspect("at")["sub"] == "alice"
    fake_op.introspection_response = {"sub": "alice"}
    with pytest.raises(ResponseValidationError, match="active"):
        client.introspect("at")


def test_end_session_url(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    url = client.end_session_url(
        "the.id.token", post_logout_redirect_uri="http://127.0.0.1:9/bye", state="s1"
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == fake_op.issuer + "/logout"
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT_ID],
        "id_token_hint": ["the.id.token"],
        "post_logout_redirect_uri": ["http://127.0.0.1:9/bye"],
        "state": ["s1"],
    }


def test_client_credentials(fake_op: FakeProvider) -> None:
    client = make_client(fake_op)
    fake_op.answer_with(lambda at: None)
    tokens = client.client_credentials("api:read")
    assert tokens.access_token.startswith("at-") and tokens.id_token is None
    assert fake_op.requests[-1]["form"] == {"grant_type": "client_credentials", "scope": "api:read"}


def test_missing_endpoint_is_a_discovery_error(fake_op: FakeProvider) -> None:
    fake_op.metadata_overrides = {"revocation_endpoint": None}
    client = make_client(fake_op)
    with pytest.raises(DiscoveryError, match="revocation_endpoint"):
        client.revoke("x")
