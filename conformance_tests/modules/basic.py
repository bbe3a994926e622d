"""Plan ``basic``: the authorization code flow OP, after the OpenID Foundation's Basic OP plan.

Test ids are the OpenID Foundation's module names (``oidcc-…``); tests it has no module
for are prefixed ``porta-``.
"""

from __future__ import annotations

import json
import time

from conformance_tests.checks import excerpt
from conformance_tests.context import CLOCK_SKEW_S, Context
from conformance_tests.registry import check, expect, fail, skip

PLAN = "basic"


def userinfo_claims(ctx: Context, access_token: str, how: str = "get-header") -> dict:
    """UserInfo claims (OIDC Core §5.3) by GET header, POST header or POST body; fails unless 200 JSON."""
    endpoint = ctx.endpoint("userinfo_endpoint")
    if how == "get-header":
        response = ctx.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
    elif how == "post-header":
        response = ctx.post(endpoint, headers={"Authorization": f"Bearer {access_token}"})
    else:
        response = ctx.post(endpoint, data={"access_token": access_token})
    if response.status_code != 200:
        fail(f"UserInfo ({how}) answered {excerpt(response)}")
    content_type = response.headers.get("content-type", "")
    if "application/json" not in content_type:
        fail(f"UserInfo ({how}) content-type {content_type!r}; this suite checks unsigned JSON responses")
    return response.json()


@check("oidcc-server", PLAN, "OIDC Core §3.1.2.5, §3.1.3.3, §3.1.3.7",
       "Code flow: code and state come back, token response and ID token are valid")
def oidcc_server(ctx: Context) -> None:
    """The happy path every other test builds on; the ID token is checked claim by claim,
    at_hash and c_hash included when present (OIDC Core §3.3.2.11)."""
    result, tokens = ctx.login_and_tokens()
    expect(str(tokens.get("token_type", "")).lower() == "bearer",
           f"token_type {tokens.get('token_type')!r}, OIDC Core §3.1.3.3 requires Bearer")
    expect(tokens.get("access_token"), "token response has no access_token (RFC 6749 §5.1)")
    expect("id_token" in tokens, "token response has no id_token (OIDC Core §3.1.3.3)")
    claims = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce,
                                 access_token=tokens["access_token"], code=result.code)
    expect(claims.get("sub"), "ID token has no sub")


@check("oidcc-response-type-missing", PLAN, "RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6",
       "Authorization request without response_type is refused")
def response_type_missing(ctx: Context) -> None:
    """A request lacking response_type must end in an error, never a code."""
    result = ctx.authorize(drop=["response_type"])
    expect("code" not in result.params, "a code was issued without response_type")
    if result.outcome.kind == "redirect":
        expect(result.params.get("error") in {"invalid_request", "unsupported_response_type"},
               f"error redirect carries error={result.params.get('error')!r}, expected invalid_request")


@check("oidcc-userinfo-get", PLAN, "OIDC Core §5.3.1, RFC 6750 §2.1",
       "UserInfo answers GET with a bearer token in the Authorization header")
def userinfo_get(ctx: Context) -> None:
    """UserInfo GET returns the same sub as the ID token (OIDC Core §5.3.2)."""
    result, tokens = ctx.login_and_tokens()
    claims = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
    info = userinfo_claims(ctx, tokens["access_token"], "get-header")
    expect(info.get("sub") == claims["sub"],
           f"UserInfo sub {info.get('sub')!r} differs from the ID token's {claims['sub']!r} (OIDC Core §5.3.2)")


@check("oidcc-userinfo-post-header", PLAN, "OIDC Core §5.3.1, RFC 6750 §2.1",
       "UserInfo answers POST with a bearer token in the Authorization header")
def userinfo_post_header(ctx: Context) -> None:
    """OIDC Core §5.3.1: the UserInfo endpoint MUST support GET and POST."""
    _, tokens = ctx.login_and_tokens()
    expect(userinfo_claims(ctx, tokens["access_token"], "post-header").get("sub"), "UserInfo has no sub")


@check("oidcc-userinfo-post-body", PLAN, "RFC 6750 §2.2", "UserInfo accepts the token in a form body",
       required=False)
def userinfo_post_body(ctx: Context) -> None:
    """RFC 6750 §2.2 (form-encoded body parameter) is optional for resource servers."""
    _, tokens = ctx.login_and_tokens()
    expect(userinfo_claims(ctx, tokens["access_token"], "post-body").get("sub"), "UserInfo has no sub")


@check("porta-userinfo-invalid-token", PLAN, "RFC 6750 §3, §3.1",
       "UserInfo refuses an invalid token with 401 and WWW-Authenticate")
def userinfo_invalid_token(ctx: Context) -> None:
    """An unknown token gets 401 with a Bearer challenge (error=invalid_token)."""
    response = ctx.get(ctx.endpoint("userinfo_endpoint"),
                       headers={"Authorization": "Bearer not-a-token-issued-by-you"})
    expect(response.status_code == 401, f"HTTP {response.status_code}, expected 401")
    challenge = response.headers.get("www-authenticate", "")
    expect(challenge.lower().startswith("bearer"), f"WWW-Authenticate {challenge!r} is not a Bearer challenge")
    expect("invalid_token" in challenge, f"WWW-Authenticate {challenge!r} lacks error=\"invalid_token\"")


@check("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", PLAN, "OIDC Core §3.1.2.1",
       "nonce is optional in the code flow")
def without_nonce(ctx: Context) -> None:
    """The code flow works without a nonce, and then the ID token carries none."""
    result = ctx.authorize(drop=["nonce"])
    tokens = ctx.tokens(result)
    claims = ctx.id_token_claims(tokens["id_token"], result.client)
    expect("nonce" not in claims, f"ID token has nonce {claims.get('nonce')!r} though none was sent")


@check("oidcc-ensure-request-with-unknown-parameter-succeeds", PLAN, "RFC 6749 §3.1",
       "Unknown authorization request parameters are ignored")
def unknown_parameter(ctx: Context) -> None:
    """RFC 6749 §3.1: the AS MUST ignore unrecognized request parameters."""
    result = ctx.authorize(extra={"extra_parameter_from_conformance": "ignore me"})
    ctx.tokens(result)


@check("oidcc-ensure-other-scope-order-succeeds", PLAN, "RFC 6749 §3.3",
       "Scope values are an unordered list")
def other_scope_order(ctx: Context) -> None:
    """``email openid`` works like ``openid email``."""
    result = ctx.authorize(scope="email openid")
    ctx.tokens(result)


@check("oidcc-scope-email", PLAN, "OIDC Core §5.4", "scope email releases email claims",
       required=False)
def scope_email(ctx: Context) -> None:
    """The email scope requests email and email_verified (returned from UserInfo)."""
    result, tokens = ctx.login_and_tokens(scope="openid email")
    info = userinfo_claims(ctx, tokens["access_token"])
    claims = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
    expect("email" in info or "email" in claims, f"no email claim (UserInfo keys {sorted(info)})")


@check("oidcc-scope-profile", PLAN, "OIDC Core §5.4", "scope profile releases profile claims",
       required=False)
def scope_profile(ctx: Context) -> None:
    """The profile scope requests name, family_name, … ; at least one should come back."""
    _result, tokens = ctx.login_and_tokens(scope="openid profile")
    info = userinfo_claims(ctx, tokens["access_token"])
    profile = {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
               "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"}
    expect(profile & set(info), f"no profile claim in UserInfo (keys {sorted(info)})")


@check("oidcc-prompt-none-not-logged-in", PLAN, "OIDC Core §3.1.2.1, §3.1.2.6",
       "prompt=none without a session returns login_required to the client")
def prompt_none_not_logged_in(ctx: Context) -> None:
    """With nobody logged in, prompt=none must not show a page and must answer with an error."""
    browser = ctx.browser()
    try:
        result = ctx.authorize(session=browser, extra={"prompt": "none"}, interact=False)
    finally:
        browser.close()
    expect(result.outcome.kind == "redirect",
           f"expected an error redirect to the client, {result.outcome.describe()}")
    expect(result.params.get("error") in {"login_required", "interaction_required", "consent_required"},
           f"error={result.params.get('error')!r}, expected login_required")
    expect(result.params.get("state") == result.state, "state not returned with the error (RFC 6749 §4.1.2.1)")


@check("oidcc-prompt-none-logged-in", PLAN, "OIDC Core §3.1.2.1",
       "prompt=none with a session and earlier consent returns a code")
def prompt_none_logged_in(ctx: Context) -> None:
    """After a login and consent, prompt=none succeeds silently with the same subject."""
    first, tokens = ctx.login_and_tokens()
    sub = ctx.id_token_claims(tokens["id_token"], first.client, first.nonce)["sub"]
    second = ctx.authorize(extra={"prompt": "none"}, interact=False)
    tokens = ctx.tokens(second)
    expect(ctx.id_token_claims(tokens["id_token"], second.client, second.nonce)["sub"] == sub,
           "prompt=none returned a different subject")


@check("oidcc-prompt-login", PLAN, "OIDC Core §3.1.2.1", "prompt=login forces a new login")
def prompt_login(ctx: Context) -> None:
    """The OP MUST prompt the End-User for reauthentication even with a session."""
    ctx.login_and_tokens()
    result = ctx.authorize(extra={"prompt": "login"})
    expect(result.outcome.login_shown, "prompt=login did not show the login page")
    ctx.tokens(result)


@check("oidcc-max-age-1", PLAN, "OIDC Core §3.1.2.1 (max_age), §2 (auth_time)",
       "max_age=1 forces a new login after 1 s and auth_time is returned")
def max_age_1(ctx: Context) -> None:
    """After more than max_age seconds the OP MUST re-authenticate; auth_time is then REQUIRED."""
    browser = ctx.browser()
    try:
        first, tokens = ctx.login_and_tokens(session=browser)
        first_auth_time = ctx.id_token_claims(tokens["id_token"], first.client, first.nonce).get("auth_time")
        time.sleep(2.1)
        second = ctx.authorize(session=browser, extra={"max_age": "1"})
        expect(second.outcome.login_shown, "max_age=1 did not show the login page again")
        tokens = ctx.tokens(second)
    finally:
        browser.close()
    claims = ctx.id_token_claims(tokens["id_token"], second.client, second.nonce)
    expect(isinstance(claims.get("auth_time"), int | float),
           f"ID token auth_time {claims.get('auth_time')!r}: REQUIRED when max_age is sent")
    if isinstance(first_auth_time, int | float):
        expect(claims["auth_time"] > first_auth_time,
               f"auth_time {claims['auth_time']} not later than the first login's {first_auth_time}")


@check("oidcc-max-age-10000", PLAN, "OIDC Core §3.1.2.1 (max_age), §2 (auth_time)",
       "max_age=10000 keeps the session and returns auth_time")
def max_age_10000(ctx: Context) -> None:
    """A fresh login satisfies max_age=10000 without a new login; auth_time is returned."""
    ctx.login_and_tokens()
    result = ctx.authorize(extra={"max_age": "10000"})
    expect(not result.outcome.login_shown, "max_age=10000 asked for a new login")
    tokens = ctx.tokens(result)
    claims = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
    expect("auth_time" in claims, "ID token lacks auth_time though max_age was sent")
    auth_time = claims["auth_time"]
    expect(isinstance(auth_time, int | float) and not isinstance(auth_time, bool),
           f"auth_time {auth_time!r} is not a NumericDate (OIDC Core §2)")
    age = time.time() - auth_time
    expect(-CLOCK_SKEW_S <= age <= 10000 + CLOCK_SKEW_S,
           f"auth_time {auth_time} is {age:.0f} s old; max_age=10000 allows at most 10000 s "
           f"(OIDC Core §3.1.2.1, {CLOCK_SKEW_S} s leeway)")


@check("oidcc-id-token-hint", PLAN, "OIDC Core §3.1.2.1 (id_token_hint)",
       "prompt=none with the ID token just issued as id_token_hint succeeds")
def id_token_hint(ctx: Context) -> None:
    """The hint names the logged-in End-User, so no error is due."""
    _first, tokens = ctx.login_and_tokens()
    second = ctx.authorize(extra={"prompt": "none", "id_token_hint": tokens["id_token"]}, interact=False)
    ctx.tokens(second)


@check("oidcc-login-hint", PLAN, "OIDC Core §3.1.2.1 (login_hint)", "login_hint is accepted",
       required=False)
def login_hint(ctx: Context) -> None:
    """A login_hint must not break the request."""
    browser = ctx.browser()
    try:
        result = ctx.authorize(session=browser, extra={"login_hint": ctx.config.username})
        ctx.tokens(result)
    finally:
        browser.close()


@check("oidcc-codereuse", PLAN, "RFC 6749 §4.1.2, §10.5", "An authorization code is single-use")
def codereuse(ctx: Context) -> None:
    """The second redemption of a code must be refused with invalid_grant."""
    result = ctx.authorize()
    ctx.tokens(result)
    again = ctx.redeem(result)
    expect(again.status_code == 400, f"second redemption answered HTTP {again.status_code}, expected 400")
    expect(_error(again) == "invalid_grant", f"second redemption error {_error(again)!r}, expected invalid_grant")


@check("oidcc-ensure-registered-redirect-uri", PLAN, "RFC 6749 §3.1.2.4, §4.1.2.1; OIDC Core §3.1.2.1",
       "An unregistered redirect_uri gets an error page, never a redirect")
def registered_redirect_uri(ctx: Context) -> None:
    """The OP must not redirect to a redirect_uri the client did not register."""
    evil = "https://attacker.invalid/cb"
    client = ctx.with_redirect(ctx.client, evil)
    result = ctx.authorize(client)
    expect(result.outcome.kind == "page",
           f"the OP sent the browser to the unregistered redirect_uri: {result.outcome.describe()}")
    expect(not result.outcome.consent_shown, "the OP asked for consent for an unregistered redirect_uri")


@check("oidcc-server-client-secret-post", PLAN, "RFC 6749 §2.3.1, OIDC Core §9",
       "client_secret_post client authentication")
def client_secret_post(ctx: Context) -> None:
    """A client registered for client_secret_post can redeem its code."""
    if not ctx.supports("token_endpoint_auth_methods_supported", "client_secret_post"):
        skip("client_secret_post is not in token_endpoint_auth_methods_supported")
    client = ctx.client
    if client.token_endpoint_auth_method != "client_secret_post":
        client = ctx.registered_client("secret-post", {"token_endpoint_auth_method": "client_secret_post"})
    ctx.login_and_tokens(client)


@check("oidcc-refresh-token", PLAN, "RFC 6749 §6, OIDC Core §12.1-12.2",
       "offline_access yields a refresh token that works")
def refresh_token(ctx: Context) -> None:
    """Refreshing returns a new access token; a new ID token keeps iss, sub and aud."""
    if not ctx.supports("grant_types_supported", "refresh_token") and "grant_types_supported" in ctx.metadata:
        skip("refresh_token is not in grant_types_supported")
    result, tokens = ctx.login_and_tokens(scope="openid offline_access", extra={"prompt": "consent"})
    if "refresh_token" not in tokens:
        fail("no refresh_token for scope offline_access with prompt=consent (OIDC Core §11)")
    first = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
    response = ctx.token_request(result.client, {"grant_type": "refresh_token",
                                                 "refresh_token": tokens["refresh_token"]})
    expect(response.status_code == 200, f"refresh failed: {excerpt(response)}")
    refreshed = response.json()
    expect(refreshed.get("access_token"), "refresh response has no access_token")
    if "id_token" in refreshed:
        claims = ctx.id_token_claims(refreshed["id_token"], result.client)
        for name in ("iss", "sub"):
            expect(claims[name] == first[name], f"refreshed ID token {name} changed (OIDC Core §12.2)")


@check("oidcc-claims-essential", PLAN, "OIDC Core §5.5, §5.5.1",
       "claims parameter: an essential userinfo claim is returned", required=False)
def claims_essential(ctx: Context) -> None:
    """Requesting name as essential for UserInfo returns it (when the user has one)."""
    if not ctx.metadata.get("claims_parameter_supported"):
        skip("claims_parameter_supported is not true")
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    _, tokens = ctx.login_and_tokens(extra={"claims": claims})
    info = userinfo_claims(ctx, tokens["access_token"])
    expect("name" in info, f"essential claim name missing from UserInfo (keys {sorted(info)})")


def _error(response: object) -> str | None:
    try:
        return response.json().get("error")  # type: ignore[attr-defined]
    except ValueError:
        return None
