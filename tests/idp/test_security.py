"""Security rules of the provider, attacked over HTTP: RFC 9700 and the specs it builds on.

Each test names the rule it checks. A refused attack must also leave no trace:
no tokens, no grant, no consent, no session, and the legitimate party can
still finish what it started.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import update

from idp.base.clock import now
from idp.base.encoding import digest
from idp.storage.models import (
    AccessToken,
    AuthorizationCode,
    ConsentRecord,
    Grant,
    Interaction,
    LoginSession,
    RefreshToken,
)
from tests.conftest import (
    FORGERIES,
    ISSUER,
    PASSWORD,
    SESSION_COOKIE,
    assert_error_page,
    assert_oauth_error,
    authorize,
    basic,
    basic_auth,
    bearer,
    callback_params,
    count_rows,
    csrf_from,
    exchange,
    interaction_from,
    introspect,
    obtain_code,
    pkce_pair,
    store_of,
    token_request,
    tokens_for,
)

# -- authorization codes: RFC 6749 §4.1.2, §4.1.3; RFC 9700 §4.5 -------------------------


def test_code_reuse_is_refused_and_revokes_what_the_first_redemption_issued(
    shared_app, browser, new_client
):
    """RFC 6749 §4.1.2: a code used twice MUST be refused, and the tokens it issued SHOULD be
    revoked (RFC 9700 §4.5.3 relies on this against code injection)."""
    client = new_client()
    code = obtain_code(browser, client, scope="openid email offline_access")["code"]
    first = exchange(browser, client, code)
    assert first.status_code == 200
    issued = first.get_json()
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 200

    again = exchange(browser, client, code)
    assert_oauth_error(again, 400, "invalid_grant")
    assert "access_token" not in again.get_json()

    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 401
    refreshed = token_request(browser, client, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert_oauth_error(refreshed, 400, "invalid_grant")
    assert introspect(browser, client, issued["access_token"]) == {"active": False}
    assert introspect(browser, client, issued["refresh_token"]) == {"active": False}
    store = store_of(shared_app)
    try:
        assert [e.detail["client_id"] for e in store.audit_events("code_reuse")][-1] == client.client_id
    finally:
        store.close()


def test_code_redeemed_by_another_client_is_refused(browser, new_client):
    """RFC 6749 §4.1.3: the code must have been issued to the authenticated client. The
    attacker's attempt must not burn the victim's code either."""
    victim, attacker = new_client(), new_client()
    code = obtain_code(browser, victim)["code"]
    stolen = token_request(
        browser, attacker, grant_type="authorization_code", code=code, redirect_uri=victim.redirect_uri
    )
    assert_oauth_error(stolen, 400, "invalid_grant")
    assert exchange(browser, victim, code).status_code == 200


def test_expired_code_is_refused(shared_app, browser, new_client):
    """RFC 6749 §4.1.2: codes are short-lived (Porta: AUTH_CODE_TTL); an expired one is invalid_grant."""
    client = new_client()
    code = obtain_code(browser, client)["code"]
    store = store_of(shared_app)
    store.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == digest(code))
        .values(expires_at=now() - timedelta(seconds=1))
    )
    store.commit()
    store.close()
    tokens_before = count_rows(shared_app, AccessToken)
    body = assert_oauth_error(exchange(browser, client, code), 400, "invalid_grant")
    assert "expired" in body["error_description"]
    assert count_rows(shared_app, AccessToken) == tokens_before


def test_redirect_uri_at_token_endpoint_must_match_the_authorization_request(browser, new_client):
    """RFC 6749 §4.1.3: redirect_uri must be identical to the one of the authorization request."""
    client = new_client(redirect_uris=["https://rp.example/cb", "https://rp.example/other"])
    code = obtain_code(browser, client)["code"]
    for wrong in ("https://rp.example/other", "https://rp.example/cb/", None):
        form = {"grant_type": "authorization_code", "code": code}
        if wrong:
            form["redirect_uri"] = wrong
        assert_oauth_error(token_request(browser, client, **form), 400, "invalid_grant")
    assert exchange(browser, client, code).status_code == 200


# -- PKCE: RFC 7636, RFC 9700 §2.1.1 and §4.8 ------------------------------------------------


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({}, "code_challenge is required"),
        ({"code_challenge_method": "S256"}, "without code_challenge"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "plain"),
        ({"code_challenge": "x" * 43}, "S256"),  # no method means plain (RFC 7636 §4.3)
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "code_challenge_method"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "code_challenge"),
    ],
    ids=["missing", "method_only", "plain", "implicit_plain", "unknown_method", "malformed"],
)
def test_public_client_pkce_errors_go_back_to_the_client(browser, new_client, params, why):
    """RFC 9700 §2.1.1: public clients MUST use PKCE and S256; errors are redirected
    (the redirect_uri is valid) with state and iss (RFC 6749 §4.1.2.1, RFC 9207 §2)."""
    client = new_client(token_endpoint_auth_method="none")
    response = authorize(browser, client, state="pk", **params)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(client.redirect_uri + "?")
    got = callback_params(response.headers["Location"])
    assert got["error"] == "invalid_request" and why in got["error_description"]
    assert got["state"] == "pk" and got["iss"] == ISSUER and "code" not in got


def test_plain_is_refused_for_confidential_clients_too(browser, new_client):
    """RFC 9700 §2.1.1: `plain` is refused whoever the client is."""
    client = new_client()
    response = authorize(browser, client, code_challenge="y" * 43, code_challenge_method="plain")
    assert callback_params(response.headers["Location"])["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("public", "send_challenge", "verifier", "why"),
    [
        (True, True, "wrong", "does not match"),
        (True, True, None, "code_verifier is required"),
        (True, True, "short", "malformed"),
        (False, True, "wrong", "does not match"),
        (False, False, "downgrade", "no PKCE"),
    ],
    ids=["public_wrong_verifier", "public_missing_verifier", "public_malformed_verifier",
         "confidential_wrong_verifier", "pkce_downgrade"],
)
def test_token_request_pkce_is_checked_and_a_failure_issues_nothing(
    shared_app, browser, new_client, public, send_challenge, verifier, why
):
    """RFC 7636 §4.6 (verifier must match the challenge) and RFC 9700 §4.8 (PKCE downgrade:
    a verifier for a code that was issued without a challenge is refused)."""
    client = new_client(token_endpoint_auth_method="none") if public else new_client()
    right, challenge = pkce_pair()
    params = {"code_challenge": challenge, "code_challenge_method": "S256"} if send_challenge else {}
    code = obtain_code(browser, client, **params)["code"]
    sent = {"wrong": pkce_pair()[0], "short": "abc", "downgrade": right, None: None}[verifier]
    form = {"code_verifier": sent} if sent else {}
    if public:
        form["client_id"] = client.client_id
    tokens_before = count_rows(shared_app, AccessToken)
    body = assert_oauth_error(exchange(browser, client, code, **form), 400, "invalid_grant")
    assert why in body["error_description"]
    assert count_rows(shared_app, AccessToken) == tokens_before


# -- redirect_uri: RFC 6749 §3.1.2.4, §4.1.2.1; RFC 9700 §2.1, §4.1.3; RFC 8252 §7.3 -------

REDIRECT_VARIANTS = [
    "https://attacker.example/cb",
    "https://rp.example/cb/",
    "https://rp.example/cb/evil",
    "https://rp.example/c",
    "https://rp.example/cbx",
    "https://RP.example/cb",
    "https://rp.example/CB",
    "https://rp.example/cb?next=https://attacker.example",
    "https://rp.example/cb#frag",
    "http://rp.example/cb",
    "https://rp.example:443/cb",
    "https://rp.example:8443/cb",
    "https://rp.example.attacker.example/cb",
    "https://rp.example@attacker.example/cb",
    "https://rp.example/cb/../cb",
    "https://rp.example/cb%2F..%2Fevil",
    "//attacker.example/cb",
    " https://rp.example/cb",
]


@pytest.mark.parametrize("redirect_uri", REDIRECT_VARIANTS)
def test_unregistered_redirect_uri_is_never_redirected_to(browser, new_client, redirect_uri):
    """RFC 9700 §4.1.3: exact string matching; RFC 6749 §4.1.2.1: when the redirect_uri is
    invalid the error is shown to the person and MUST NOT be sent to that URI."""
    client = new_client()
    response = authorize(browser, client, redirect_uri=redirect_uri, response_type="token")
    assert_error_page(response, attacker="attacker.example")


@pytest.mark.parametrize(
    "query",
    [
        {"redirect_uri": None},
        {"client_id": None},
        {"client_id": "no-such-client"},
    ],
    ids=["missing_redirect_uri", "missing_client_id", "unknown_client"],
)
def test_request_without_a_verifiable_redirect_uri_shows_an_error_page(browser, new_client, query):
    """OIDC Core §3.1.2.1 makes redirect_uri required; without a known client and a registered
    redirect_uri there is nowhere safe to send an error (RFC 6749 §4.1.2.1)."""
    client = new_client()
    assert_error_page(authorize(browser, client, **query))


def test_loopback_port_may_vary_for_native_clients(browser, new_client):
    """RFC 8252 §7.3 and RFC 9700 §2.1: a native app's loopback redirect may use any port;
    the rest of the URI still matches exactly, and the token request repeats the same URI."""
    client = new_client(
        application_type="native",
        token_endpoint_auth_method="none",
        redirect_uris=["http://127.0.0.1/callback"],
    )
    verifier, challenge = pkce_pair()
    ephemeral = "http://127.0.0.1:53124/callback"
    got = obtain_code(
        browser, client, redirect_uri=ephemeral, code_challenge=challenge, code_challenge_method="S256"
    )
    response = token_request(
        browser,
        client,
        grant_type="authorization_code",
        code=got["code"],
        redirect_uri=ephemeral,
        client_id=client.client_id,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53124/other",
        "http://127.0.0.1:53124/callback?x=1",
        "http://localhost:53124/callback",
        "http://127.0.0.2:53124/callback",
        "https://127.0.0.1:53124/callback",
        "http://user@127.0.0.1:53124/callback",
        "http://127.0.0.1:99999/callback",
        "http://127.0.0.1:abc/callback",
    ],
)
def test_native_loopback_flexibility_covers_the_port_only(browser, new_client, redirect_uri):
    """RFC 8252 §7.3: only the port may differ; path, query, host and scheme may not."""
    client = new_client(
        application_type="native",
        token_endpoint_auth_method="none",
        redirect_uris=["http://127.0.0.1/callback"],
    )
    _, challenge = pkce_pair()
    assert_error_page(
        authorize(browser, client, redirect_uri=redirect_uri, code_challenge=challenge, code_challenge_method="S256")
    )


@pytest.mark.parametrize("redirect_uri", ["http://127.0.0.1:9001/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"])
def test_web_clients_get_no_loopback_port_flexibility(browser, new_client, redirect_uri):
    """RFC 9700 §2.1: the port exception is for native apps only; a web client's loopback
    redirect_uri is compared exactly like any other."""
    client = new_client(redirect_uris=["http://127.0.0.1:8080/cb"])
    assert_error_page(authorize(browser, client, redirect_uri=redirect_uri))
    assert authorize(browser, client).status_code == 303  # the registered one works


# -- client authentication: RFC 6749 §2.3, §5.2 ---------------------------------------------


def _auth_cases(client, other):
    wrong = basic_auth(client.client_id, "not-the-secret")
    return {
        "wrong_secret": ({}, wrong, 401, "invalid_client"),
        "other_clients_secret": ({}, basic_auth(client.client_id, other.client_secret), 401, "invalid_client"),
        "unknown_client": ({}, basic_auth("no-such-client", "x"), 401, "invalid_client"),
        "no_authentication": ({"client_id": client.client_id}, {}, 401, "invalid_client"),
        "post_for_basic_client": (
            {"client_id": client.client_id, "client_secret": client.client_secret}, {}, 401, "invalid_client"
        ),
        "two_methods": ({"client_secret": client.client_secret}, basic(client), 400, "invalid_request"),
        "basic_client_id_mismatch": ({"client_id": other.client_id}, basic(client), 400, "invalid_request"),
        "assertion_for_secret_client": (
            {
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": jwt.encode({"iss": client.client_id, "sub": client.client_id}, "k" * 32),
            },
            {},
            401,
            "invalid_client",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["wrong_secret", "other_clients_secret", "unknown_client", "no_authentication",
     "post_for_basic_client", "two_methods", "basic_client_id_mismatch", "assertion_for_secret_client"],
)
def test_failed_client_authentication_issues_nothing_and_keeps_the_code(
    shared_app, browser, new_client, case
):
    """RFC 6749 §2.3: one method per request, the registered one; §5.2: invalid_client (401 with
    WWW-Authenticate for Basic). The failed attempt must not consume the code."""
    client, other = new_client(), new_client()
    code = obtain_code(browser, client)["code"]
    form, headers, status, error = _auth_cases(client, other)[case]
    response = token_request(
        browser, client, headers=headers, grant_type="authorization_code", code=code,
        redirect_uri=client.redirect_uri, **form,
    )
    assert_oauth_error(response, status, error)
    if status == 401 and "Authorization" in headers:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert exchange(browser, client, code).status_code == 200


def test_public_client_cannot_authenticate_with_a_made_up_secret(browser, new_client):
    """RFC 6749 §2.3: a client registered for `none` cannot switch to a secret method."""
    client = new_client(token_endpoint_auth_method="none")
    response = browser.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers=basic_auth(client.client_id, "anything"),
    )
    assert_oauth_error(response, 401, "invalid_client")


# -- refresh tokens: RFC 9700 §4.14.2, RFC 6749 §6 ---------------------------------------------


def test_refresh_token_reuse_revokes_the_whole_family(shared_app, browser, new_client):
    """RFC 9700 §4.14.2: with rotation, a reused refresh token revokes the active refresh token
    of the family too; Porta also revokes the family's access tokens."""
    client = new_client()
    first = tokens_for(browser, client)
    rotated = token_request(browser, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == 200
    second = rotated.get_json()

    replay = token_request(browser, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert_oauth_error(replay, 400, "invalid_grant")

    newest = token_request(browser, client, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert_oauth_error(newest, 400, "invalid_grant")
    for access_token in (first["access_token"], second["access_token"]):
        assert browser.get("/userinfo", headers=bearer(access_token)).status_code == 401
        assert introspect(browser, client, access_token) == {"active": False}
    assert introspect(browser, client, second["refresh_token"]) == {"active": False}


def test_refresh_token_of_another_client_is_refused(browser, new_client):
    """RFC 6749 §6: the refresh token must have been issued to the authenticated client; the
    owner's token keeps working (the attacker cannot burn it)."""
    owner, attacker = new_client(), new_client()
    issued = tokens_for(browser, owner)
    stolen = token_request(browser, attacker, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert_oauth_error(stolen, 400, "invalid_grant")
    assert token_request(browser, owner, grant_type="refresh_token", refresh_token=issued["refresh_token"]).status_code == 200


def test_expired_refresh_token_is_refused(shared_app, browser, new_client):
    """RFC 6749 §6: an expired refresh token is invalid_grant (expiry set on the row)."""
    client = new_client()
    issued = tokens_for(browser, client)
    store = store_of(shared_app)
    store.session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == digest(issued["refresh_token"]))
        .values(expires_at=now() - timedelta(seconds=1))
    )
    store.commit()
    store.close()
    response = token_request(browser, client, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert_oauth_error(response, 400, "invalid_grant")


# -- forged ID tokens as id_token_hint: RFC 8725 §2.1, §3.1; OIDC Core §3.1.2.1 ---------------


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_id_token_hint_is_refused_at_authorization(browser, new_client, forgery):
    """OIDC Core §3.1.2.1: id_token_hint must be an ID token this OP issued. RFC 8725 §3.1:
    the algorithm comes from the key, so `alg: none` and HMAC-with-the-public-key fail."""
    client = new_client()
    id_token = tokens_for(browser, client, scope="openid")["id_token"]
    accepted = authorize(browser, client, prompt="none", id_token_hint=id_token)
    assert "code" in callback_params(accepted.headers["Location"])  # the genuine hint works

    forged = FORGERIES[forgery](browser, id_token)
    response = authorize(browser, client, prompt="none", id_token_hint=forged, state="h")
    assert response.status_code == 302
    got = callback_params(response.headers["Location"])
    assert got["error"] == "invalid_request" and "id_token_hint" in got["error_description"]
    assert "code" not in got and got["state"] == "h"


def test_an_access_token_is_not_accepted_as_id_token_hint(browser, new_client):
    """RFC 8725 §3.11 explicit typing: the provider's access tokens (typ at+jwt, RFC 9068 §2.1)
    carry the same iss and sub but are not ID tokens, so they are refused as a hint."""
    client = new_client()
    access_token = tokens_for(browser, client, scope="openid")["access_token"]
    response = authorize(browser, client, prompt="none", id_token_hint=access_token)
    got = callback_params(response.headers["Location"])
    assert got["error"] == "invalid_request" and "code" not in got


def test_an_id_token_is_not_accepted_as_access_token(browser, new_client):
    """RFC 9068 §4: the resource server checks typ at+jwt, so an ID token (same signer, same
    sub) cannot be replayed as a bearer token."""
    client = new_client()
    issued = tokens_for(browser, client, scope="openid")
    assert browser.get("/userinfo", headers=bearer(issued["access_token"])).status_code == 200
    response = browser.get("/userinfo", headers=bearer(issued["id_token"]))
    assert_oauth_error(response, 401, "invalid_token")
    assert introspect(browser, client, issued["id_token"]) == {"active": False}


# -- private_key_jwt: OIDC Core §9, RFC 7523 §3 -------------------------------------------------


@pytest.fixture
def jwt_client(new_client):
    """A client that authenticates with private_key_jwt; returns (client, private key, kid)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "k1", "use": "sig", "alg": "ES256"})
    client = new_client(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]})
    return client, key


def client_assertion(client_id: str, key, **overrides) -> str:
    """A client assertion (RFC 7523 §3), with claims overridden or (None) removed."""
    moment = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": ISSUER + "/token",
        "iat": moment,
        "exp": moment + 60,
        "jti": secrets.token_hex(12),
        **overrides,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})


def assertion_exchange(http, client, code: str, assertion: str):
    """Redeem a code authenticating with a client assertion."""
    return http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def test_private_key_jwt_works_and_a_replayed_assertion_is_refused(browser, jwt_client):
    """OIDC Core §9 private_key_jwt; RFC 7523 §3 item 7: the jti may be used only once."""
    client, key = jwt_client
    assertion = client_assertion(client.client_id, key)
    response = assertion_exchange(browser, client, obtain_code(browser, client)["code"], assertion)
    assert response.status_code == 200, response.get_json()
    second_code = obtain_code(browser, client)["code"]
    body = assert_oauth_error(assertion_exchange(browser, client, second_code, assertion), 401, "invalid_client")
    assert "jti" in body["error_description"]
    fresh = client_assertion(client.client_id, key)
    assert assertion_exchange(browser, client, second_code, fresh).status_code == 200


@pytest.mark.parametrize(
    "case",
    ["wrong_audience", "expired", "no_jti", "no_exp", "iss_not_client", "other_key", "alg_none", "hs256"],
)
def test_bad_client_assertions_are_refused(browser, jwt_client, case):
    """RFC 7523 §3: aud must identify this server (item 3), exp must be in the future (item 4),
    the JWT must be signed by the client's key (item 9); OIDC Core §9 requires jti."""
    client, key = jwt_client
    cid = client.client_id
    assertion = {
        "wrong_audience": lambda: client_assertion(cid, key, aud="https://other-op.example/token"),
        "expired": lambda: client_assertion(cid, key, exp=int(time.time()) - 3600, iat=int(time.time()) - 4000),
        "no_jti": lambda: client_assertion(cid, key, jti=None),
        "no_exp": lambda: client_assertion(cid, key, exp=None),
        "iss_not_client": lambda: client_assertion(cid, key, iss="someone-else"),
        "other_key": lambda: client_assertion(cid, ec.generate_private_key(ec.SECP256R1())),
        "alg_none": lambda: jwt.encode(
            {"iss": cid, "sub": cid, "aud": ISSUER + "/token", "exp": int(time.time()) + 60, "jti": "n"},
            None,
            algorithm="none",
        ),
        "hs256": lambda: jwt.encode(
            {"iss": cid, "sub": cid, "aud": ISSUER + "/token", "exp": int(time.time()) + 60, "jti": "h"},
            "shared-secret-guess-" * 2,
            algorithm="HS256",
        ),
    }[case]()
    code = obtain_code(browser, client)["code"]
    assert_oauth_error(assertion_exchange(browser, client, code, assertion), 401, "invalid_client")
    good = assertion_exchange(browser, client, code, client_assertion(cid, key))
    assert good.status_code == 200  # the refused attempt did not burn the code


# -- iss in authorization responses: RFC 9207 §2, RFC 9700 §4.4 ---------------------------------


@pytest.mark.parametrize(
    "case", ["success", "login_required", "consent_required", "access_denied", "invalid_request", "unsupported_response_type"]
)
def test_iss_is_in_every_authorization_response(shared_app, browser, anon, new_client, case):
    """RFC 9207 §2: the iss parameter is in success and error responses alike."""
    client = new_client()
    if case == "success":
        got = obtain_code(browser, client, state="s")
        assert "code" in got
    else:
        response = {
            "login_required": lambda: authorize(anon, client, prompt="none", state="s"),
            "consent_required": lambda: authorize(browser, client, prompt="none", state="s"),
            "access_denied": lambda: _deny(browser, client),
            "invalid_request": lambda: authorize(browser, client, max_age="soon", state="s"),
            "unsupported_response_type": lambda: authorize(browser, client, response_type="token", state="s"),
        }[case]()
        assert response.status_code == 302
        got = callback_params(response.headers["Location"])
        assert got["error"] == case
    assert got["iss"] == ISSUER and got["state"] == "s"


def _deny(browser, client):
    from tests.conftest import consent

    return consent(browser, authorize(browser, client, state="s"), decision="deny")


def test_iss_is_in_form_post_error_responses(browser, new_client):
    """RFC 9207 §2 with the Form Post Response Mode: iss is one of the posted fields."""
    client = new_client()
    response = authorize(browser, client, response_mode="form_post", prompt="none", state="fp")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="error" value="consent_required"' in html
    assert f'name="iss" value="{ISSUER}"' in html


# -- clickjacking: RFC 9700 §4.16 ----------------------------------------------------------------


def _page(name: str, browser, anon, client):
    if name == "login":
        return anon.get(authorize(anon, client).headers["Location"])
    if name == "consent":
        return browser.get(authorize(browser, client).headers["Location"])
    if name == "logout_confirm":
        return browser.get("/logout")  # no id_token_hint: the person is asked (not logged out)
    if name == "logged_out":
        return anon.get("/logout")
    if name == "error":
        return authorize(browser, client, redirect_uri="https://attacker.example/cb")
    if name == "home":
        return browser.get("/")
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["login", "consent", "logout_confirm", "logged_out", "error", "home"])
def test_pages_cannot_be_framed(browser, anon, new_client, name):
    """RFC 9700 §4.16: the authorization server's pages forbid framing (X-Frame-Options and
    CSP frame-ancestors)."""
    response = _page(name, browser, anon, new_client())
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    if name == "logout_confirm":
        assert "Sign out" in response.get_data(as_text=True)


# -- CSRF on the person's forms: RFC 9700 §4.7, RFC 6749 §10.12 ---------------------------------


@pytest.mark.parametrize("token", [None, "forged", "other_session"])
def test_login_post_without_a_valid_csrf_token_is_refused(shared_app, anon, new_client, token):
    """RFC 6749 §10.12: a login-CSRF post with the right password still starts no session."""
    client = new_client()
    location = authorize(anon, client).headers["Location"]
    anon.get(location)
    form = {"email": "alice@example.org", "password": PASSWORD, "interaction": interaction_from(location)}
    if token == "forged":
        form["csrf_token"] = "IjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAi.aaaa.bbbb"
    elif token == "other_session":
        other = shared_app.test_client()
        form["csrf_token"] = csrf_from(other.get("/login").get_data(as_text=True))
    sessions_before = count_rows(shared_app, LoginSession)
    response = anon.post("/login", data=form)
    assert_error_page(response)
    assert count_rows(shared_app, LoginSession) == sessions_before
    still = authorize(anon, client, prompt="none")
    assert callback_params(still.headers["Location"])["error"] == "login_required"


@pytest.mark.parametrize("token", [None, "forged"])
def test_consent_post_without_a_valid_csrf_token_is_refused(shared_app, browser, new_client, token):
    """RFC 9700 §4.7: a forged consent post records no consent and issues no code; the
    person's own decision still goes through afterwards."""
    client = new_client()
    location = authorize(browser, client).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    form = {"interaction": interaction_from(location), "decision": "approve"}
    if token == "forged":
        form["csrf_token"] = csrf_from(page)[:-4] + "AAAA"
    counts = (count_rows(shared_app, Grant), count_rows(shared_app, ConsentRecord))
    assert_error_page(browser.post("/consent", data=form))
    assert (count_rows(shared_app, Grant), count_rows(shared_app, ConsentRecord)) == counts
    form["csrf_token"] = csrf_from(page)
    assert "code" in callback_params(browser.post("/consent", data=form).headers["Location"])


def test_consent_for_an_interaction_of_another_browser_is_refused(shared_app, browser, alice_cookie, new_client):
    """OIDC Core §3.1.2.4 / RFC 9700 §4.7: the consent decision must come from the browser
    that made the request; another browser (even of the same person) cannot complete it."""
    client = new_client()
    location = authorize(browser, client).headers["Location"]
    interaction = interaction_from(location)
    intruder = shared_app.test_client()
    intruder.set_cookie(SESSION_COOKIE, alice_cookie)
    token = csrf_from(intruder.get("/login").get_data(as_text=True))
    grants = count_rows(shared_app, Grant)
    response = intruder.post("/consent", data={"csrf_token": token, "interaction": interaction, "decision": "approve"})
    assert_error_page(response)
    assert count_rows(shared_app, Grant) == grants
    page = browser.get(location).get_data(as_text=True)
    mine = browser.post("/consent", data={"csrf_token": csrf_from(page), "interaction": interaction, "decision": "approve"})
    assert "code" in callback_params(mine.headers["Location"])


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_replayed_consent_post_is_refused(shared_app, browser, new_client, decision):
    """RFC 6749 §4.1.2: one authorization request yields at most one code; a replayed consent
    post (back button, double submit, attacker replay) creates nothing."""
    client = new_client()
    location = authorize(browser, client).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "interaction": interaction_from(location), "decision": decision}
    assert browser.post("/consent", data=form).status_code == 302
    counts = (count_rows(shared_app, Grant), count_rows(shared_app, AuthorizationCode))
    for replay in ("approve", "deny"):
        assert_error_page(browser.post("/consent", data={**form, "decision": replay}))
    assert (count_rows(shared_app, Grant), count_rows(shared_app, AuthorizationCode)) == counts


# -- brute force and secrets at rest -----------------------------------------------------------


def test_login_attempts_are_rate_limited(make_app):
    """RFC 9700 §4.x / OWASP: password guessing is throttled per client address."""
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    http = app.test_client()
    token = csrf_from(http.get("/login").get_data(as_text=True))
    form = {"csrf_token": token, "email": "alice@example.org", "password": ""}
    assert [http.post("/login", data=form).status_code for _ in range(3)] == [401, 401, 401]
    blocked = http.post("/login", data={**form, "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.headers["X-Frame-Options"] == "DENY"
    assert "Too many" in blocked.get_data(as_text=True)
    assert http.get("/login").status_code == 200  # only the attempts are limited


def test_passwords_are_stored_as_argon2id(shared_app, alice):
    """DESIGN §9 and RFC 9106: password hashes are argon2id, never the password."""
    store = store_of(shared_app)
    try:
        stored = store.get_user_by_email("alice@example.org").password_hash
    finally:
        store.close()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_session_cookie_flags_after_login(shared_app, alice):
    """RFC 6265bis: the session cookie is HttpOnly and SameSite=Lax; not Secure on an http
    issuer (local use) so that it works at all."""
    http = shared_app.test_client()
    token = csrf_from(http.get("/login").get_data(as_text=True))
    response = http.post("/login", data={"csrf_token": token, "email": "alice@example.org", "password": PASSWORD})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE + "="))
    attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "secure" not in attributes


def test_session_cookie_is_secure_on_an_https_issuer(make_app):
    """RFC 6265 §4.1.2.5: on an https issuer the session cookie is Secure (and, RFC 6265bis
    §4.1.3.2, named with the __Host- prefix)."""
    app = make_app(ISSUER="https://op.example")
    response = app.test_client().get("/login", base_url="https://op.example")
    name = app.config["SESSION_COOKIE_NAME"]  # named after this issuer
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "="))
    attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax"} <= set(attributes)


# -- races: single use under concurrency (DESIGN §8, RFC 6749 §4.1.2) ---------------------------


def _race(app, send, n: int = 2) -> list:
    """Run ``send(http)`` from ``n`` threads released together; their responses."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        http = app.test_client()
        barrier.wait()
        results[i] = send(http)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_redemptions_of_one_code_issue_tokens_once(shared_app, browser, new_client):
    """RFC 6749 §4.1.2: a code is single-use even when two redemptions race (the atomic
    conditional update of DESIGN §8); the loser gets invalid_grant, never a 5xx."""
    client = new_client()
    code = obtain_code(browser, client)["code"]
    responses = _race(shared_app, lambda http: exchange(http, client, code))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400], [r.get_json() for r in responses]
    loser = next(r for r in responses if r.status_code == 400)
    assert loser.get_json()["error"] == "invalid_grant"


def test_concurrent_refreshes_of_one_refresh_token_rotate_once(shared_app, browser, new_client):
    """RFC 9700 §4.14.2: a refresh token is used once even under a race; the second use is
    reuse and revokes the family."""
    client = new_client()
    issued = tokens_for(browser, client)
    responses = _race(
        shared_app,
        lambda http: token_request(http, client, grant_type="refresh_token", refresh_token=issued["refresh_token"]),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400], [r.get_json() for r in responses]
    winner = next(r for r in responses if r.status_code == 200).get_json()
    assert introspect(browser, client, winner["refresh_token"]) == {"active": False}


# -- reflected input, stale interactions, client_credentials scope -------------------------------

SCRIPT = '"><script>alert(1)</script>'


def test_form_post_escapes_reflected_values(browser, new_client):
    """Form Post Response Mode §5 (security): values are HTML-escaped in the auto-submitted form,
    and the page's CSP only runs the provider's own nonce'd script."""
    client = new_client()
    obtain_code(browser, client)  # consent once
    response = authorize(browser, client, response_mode="form_post", state=SCRIPT)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html or "&#34;&gt;&lt;script" in html
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_login_page_escapes_login_hint(anon, new_client):
    """OIDC Core §3.1.2.1 login_hint is shown to the person: escaped, never markup."""
    response = anon.get(authorize(anon, new_client(), login_hint=SCRIPT).headers["Location"])
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_expired_interaction_cannot_be_completed(shared_app, browser, new_client):
    """An authorization request waits INTERACTION_TTL for the person; a consent posted after
    that is refused and issues nothing."""
    client = new_client()
    location = authorize(browser, client).headers["Location"]
    page = browser.get(location).get_data(as_text=True)
    store = store_of(shared_app)
    store.session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_from(location))
        .values(expires_at=now() - timedelta(seconds=1))
    )
    store.commit()
    store.close()
    grants = count_rows(shared_app, Grant)
    form = {"csrf_token": csrf_from(page), "interaction": interaction_from(location), "decision": "approve"}
    assert_error_page(browser.post("/consent", data=form))
    assert count_rows(shared_app, Grant) == grants


@pytest.mark.parametrize(
    ("scope", "error"),
    [("openid", "invalid_scope"), ("inventory:write", "invalid_scope"), ("offline_access", "invalid_scope")],
)
def test_client_credentials_cannot_widen_scope_or_act_for_a_person(anon, new_client, scope, error):
    """RFC 6749 §4.4 and §3.3: the client acts for itself, within its registered scope."""
    client = new_client(grant_types=["client_credentials"], redirect_uris=None, scope="inventory:read")
    response = token_request(anon, client, grant_type="client_credentials", scope=scope)
    assert_oauth_error(response, 400, error)


def test_public_clients_cannot_use_client_credentials(anon, new_client):
    """RFC 6749 §4.4: only confidential clients; a public client has no credentials to show."""
    client = new_client(token_endpoint_auth_method="none")
    response = anon.post("/token", data={"grant_type": "client_credentials", "client_id": client.client_id})
    assert_oauth_error(response, 400, "unauthorized_client")


def test_jwks_uri_fetch_failures_reveal_nothing_about_the_network(anon, new_client):
    """RFC 7591 §5 / RFC 9700 §4.x (SSRF): when a client's jwks_uri cannot be fetched, the
    error does not echo what answered (or did not) at that address."""
    import socket

    with socket.socket() as listener:  # a port on which nothing will answer once closed
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    client = new_client(
        grant_types=["client_credentials"], redirect_uris=None, token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"http://127.0.0.1:{port}/jwks",
    )
    assertion = jwt.encode(
        {"iss": client.client_id, "sub": client.client_id, "aud": ISSUER + "/token",
         "exp": int(time.time()) + 60, "jti": secrets.token_hex(8)},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
    )
    response = anon.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    body = assert_oauth_error(response, 401, "invalid_client")
    assert body["error_description"] == "could not fetch the client's jwks_uri"


def test_subjects_are_pairwise_per_sector_by_default(browser, new_client):
    """OIDC Core §8.1: by default each sector (redirect host) sees its own sub for the person,
    so two relying parties cannot correlate her; one sector sees one sub."""
    a1 = new_client(redirect_uris=["https://a.example/cb"])
    a2 = new_client(redirect_uris=["https://a.example/other"])
    b = new_client(redirect_uris=["https://b.example/cb"])
    subs = {}
    for name, client in (("a1", a1), ("a2", a2), ("b", b)):
        id_token = tokens_for(browser, client, scope="openid")["id_token"]
        subs[name] = jwt.decode(id_token, options={"verify_signature": False})["sub"]
    assert subs["a1"] == subs["a2"] != subs["b"]
