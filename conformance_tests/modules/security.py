"""Plan ``security``: the OAuth 2.0 Security Best Current Practice (RFC 9700) as negative tests.

Each test attacks one rule and expects the provider to refuse; most are not in the OpenID
Foundation's OP plans. Every test here has a proof that it can fail: the broken test
provider in ``tests/conformance/broken_op`` switches the matching fault on and the test
turns FAILED (or WARNING for recommended rules).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from conformance_tests.checks import error_code, excerpt, refused
from conformance_tests.config import ClientConfig
from conformance_tests.context import AuthResult, Context
from conformance_tests.keys import (
    ASSERTION_TYPE,
    ClientKey,
    hs256_with_public_key,
    signed_assertion,
    unsigned_assertion,
)
from conformance_tests.registry import check, expect, fail, skip

PLAN = "security"


_error = error_code
_refused = refused


def _second_client(ctx: Context) -> ClientConfig:
    return ctx.second_client()


def _offline(ctx: Context, client: ClientConfig) -> tuple[AuthResult, dict[str, Any]]:
    """Tokens with a refresh token (offline_access + prompt=consent, OIDC Core §11)."""
    if "grant_types_supported" in ctx.metadata and not ctx.supports("grant_types_supported", "refresh_token"):
        skip("refresh_token is not in grant_types_supported")
    result, tokens = ctx.login_and_tokens(client, scope="openid offline_access", extra={"prompt": "consent"})
    if "refresh_token" not in tokens:
        skip(f"no refresh token issued to client {client.client_id} for offline_access")
    return result, tokens


def _refresh(ctx: Context, client: ClientConfig, refresh_token: str) -> requests.Response:
    return ctx.token_request(client, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def _userinfo_status(ctx: Context, access_token: str) -> int:
    return ctx.get(ctx.endpoint("userinfo_endpoint"), headers={"Authorization": f"Bearer {access_token}"}).status_code


# --- authorization code ------------------------------------------------------------------

@check("rfc9700-code-reuse-revokes-tokens", PLAN, "RFC 6749 §4.1.2, §10.5",
       "Redeeming a code twice revokes the tokens issued for it (required with conforms_to rfc9700)",
       required=False)
def code_reuse_revokes(ctx: Context) -> None:
    """RFC 6749 §4.1.2: the AS MUST deny a reused code and SHOULD revoke all tokens issued
    from it. The revocation is a failure, not a warning, when op.toml declares
    ``provider.conforms_to = ["rfc9700"]``: such a provider claims the code-injection
    defences of the BCP, which assume a replayed code ends the grant."""
    result = ctx.authorize(ctx.client, scope="openid offline_access", extra={"prompt": "consent"})
    tokens = ctx.tokens(result)
    check_code_reuse(ctx, result, tokens)


def check_code_reuse(ctx: Context, result: AuthResult, tokens: dict[str, Any]) -> None:
    """The second redemption is refused (a MUST) and what the first issued stops working
    (a SHOULD, a MUST for a provider claiming RFC 9700)."""
    replay = ctx.redeem(result)
    if replay.status_code == 200:
        fail("second redemption of the code: accepted (HTTP 200); RFC 6749 §4.1.2 requires "
             "invalid_grant", required=True)
    if replay.status_code not in {400, 401} or error_code(replay) != "invalid_grant":
        fail(f"second redemption of the code: {excerpt(replay)}, expected HTTP 400 invalid_grant "
             "(RFC 6749 §4.1.2, §5.2)", required=True)
    must = ctx.config.claims("rfc9700")
    level = "required: the provider claims RFC 9700" if must else "recommended"
    if "refresh_token" in tokens:
        refreshed = _refresh(ctx, ctx.client, tokens["refresh_token"])
        if refreshed.status_code == 200:
            fail(f"the refresh token issued for the reused code still works ({level})", required=must)
    if ctx.metadata.get("userinfo_endpoint"):
        answer = ctx.userinfo_status(tokens["access_token"])
        if answer.status_code != 401:
            fail(f"the access token issued for the reused code still works at UserInfo: "
                 f"{excerpt(answer)}, expected 401 ({level})", required=must)


@check("rfc9700-code-other-client", PLAN, "RFC 6749 §4.1.3, §10.5",
       "A code issued to one client cannot be redeemed by another")
def code_other_client(ctx: Context) -> None:
    """The AS MUST ensure the code was issued to the authenticated confidential client."""
    other = _second_client(ctx)
    result = ctx.authorize(ctx.client)
    response = ctx.redeem(result, client=other)
    _refused(response, "code redeemed by another client", {"invalid_grant", "invalid_client"})


@check("rfc9700-code-expired", PLAN, "RFC 6749 §4.1.2",
       "An expired authorization code is refused")
def code_expired(ctx: Context) -> None:
    """The code MUST expire shortly after issue; waits op.toml timing.code_lifetime_s + 1 s."""
    lifetime = ctx.config.code_lifetime_s
    if lifetime is None:
        skip("set [timing] code_lifetime_s in op.toml to run this test (it waits that long)")
    result = ctx.authorize()
    code = result.code
    time.sleep(lifetime + 1.0)
    response = ctx.redeem(result)
    _refused(response, f"code {code[:6]}… redeemed after {lifetime + 1:.0f} s", {"invalid_grant"})


@check("rfc9700-redirect-uri-exact-match", PLAN, "RFC 9700 §2.1, §4.1.3; OIDC Core §3.1.2.1",
       "redirect_uri is compared by exact string match")
def redirect_exact(ctx: Context) -> None:
    """Path, query, port and host-case variants of the registered URI are all refused.

    The port variant is left out for loopback redirect URIs: RFC 8252 §7.3 and RFC 9700
    §4.1.3 let native apps' loopback redirects use any port, and op.toml does not say
    whether the client is a native app.
    """
    registered = ctx.client.redirect_uri
    parts = urlsplit(registered)
    variants = [
        registered + "/extra",
        registered + ("&" if parts.query else "?") + "inject=1",
        urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "x", parts.query, "")),
        urlunsplit((parts.scheme, (parts.hostname or "").upper() + (f":{parts.port}" if parts.port else ""),
                    parts.path, parts.query, "")),
    ]
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        port = (parts.port or (443 if parts.scheme == "https" else 80)) + 1
        variants.append(urlunsplit((parts.scheme, f"{parts.hostname}:{port}", parts.path, parts.query, "")))
    for variant in variants:
        if variant == registered:
            continue
        result = ctx.authorize(ctx.with_redirect(ctx.client, variant))
        expect(result.outcome.kind == "page",
               f"redirect_uri {variant!r} (registered {registered!r}) was accepted: {result.outcome.describe()}")


@check("rfc9700-redirect-uri-token-mismatch", PLAN, "RFC 6749 §4.1.3",
       "The token request's redirect_uri must be the authorization request's")
def redirect_token_mismatch(ctx: Context) -> None:
    """A different redirect_uri at the token endpoint is invalid_grant."""
    result = ctx.authorize()
    data = {"grant_type": "authorization_code", "code": result.code,
            "redirect_uri": result.client.redirect_uri + "/other",
            "code_verifier": result.code_verifier or ""}
    _refused(ctx.token_request(result.client, data), "mismatched redirect_uri", {"invalid_grant"})


# --- PKCE ---------------------------------------------------------------------------------

@check("rfc9700-pkce-downgrade", PLAN, "RFC 9700 §2.1.1, §4.8.2",
       "A code_verifier is refused when the authorization request had no code_challenge")
def pkce_downgrade(ctx: Context) -> None:
    """The AS MUST accept a code_verifier only if a code_challenge was in the authorization request."""
    result = ctx.authorize(pkce=False)
    if "code" not in result.params:
        expect(result.outcome.kind in {"redirect", "page"}, result.outcome.describe())
        return  # the provider requires PKCE outright: no downgrade possible
    data = {"grant_type": "authorization_code", "code": result.code,
            "redirect_uri": result.client.redirect_uri,
            "code_verifier": "downgraded-verifier-0123456789-0123456789-0123456789"}
    _refused(ctx.token_request(result.client, data), "code_verifier without code_challenge", {"invalid_grant"})


@check("rfc9700-pkce-verifier-missing", PLAN, "RFC 7636 §4.6, RFC 9700 §2.1.1",
       "A code bound to a code_challenge is refused without code_verifier")
def pkce_missing(ctx: Context) -> None:
    """Omitting the verifier must not bypass PKCE."""
    result = ctx.authorize()
    data = {"grant_type": "authorization_code", "code": result.code,
            "redirect_uri": result.client.redirect_uri}
    _refused(ctx.token_request(result.client, data), "no code_verifier", {"invalid_grant", "invalid_request"})


@check("rfc9700-pkce-verifier-mismatch", PLAN, "RFC 7636 §4.6",
       "A wrong code_verifier is refused")
def pkce_mismatch(ctx: Context) -> None:
    """The S256 transform of the verifier must equal the challenge."""
    result = ctx.authorize()
    response = ctx.redeem(result, verifier="wrong-verifier-0123456789-0123456789-0123456789")
    _refused(response, "wrong code_verifier", {"invalid_grant"})


@check("rfc9700-pkce-required-public-client", PLAN, "RFC 9700 §2.1.1",
       "A public client cannot obtain tokens without PKCE", required=False)
def pkce_public(ctx: Context) -> None:
    """Public clients MUST use PKCE; an AS that lets them skip it leaves codes injectable."""
    client = ctx.public_client
    result = ctx.authorize(client, pkce=False)
    if "code" not in result.params:
        return
    data = {"grant_type": "authorization_code", "code": result.params["code"],
            "redirect_uri": client.redirect_uri}
    _refused(ctx.token_request(client, data), "public client without PKCE")


# --- mix-up -------------------------------------------------------------------------------

@check("rfc9207-iss-parameter", PLAN, "RFC 9207 §2, §2.3; RFC 9700 §2.1, §4.4.2",
       "iss is in every authorization response and equals the issuer")
def iss_parameter(ctx: Context) -> None:
    """RFC 9207 §2: iss MUST be in success and error responses; §2.3: it MUST equal the
    metadata's issuer."""
    if not ctx.metadata.get("authorization_response_iss_parameter_supported"):
        skip("authorization_response_iss_parameter_supported is not true (see rfc9700-mix-up-defence-advertised)")
    issuer = ctx.metadata["issuer"]
    success = ctx.authorize()
    expect(success.params.get("iss") == issuer,
           f"success response iss={success.params.get('iss')!r}, expected {issuer!r}")
    browser = ctx.browser()
    try:
        error = ctx.authorize(session=browser, extra={"prompt": "none"}, interact=False)
    finally:
        browser.close()
    expect("error" in error.params, f"expected an error response: {error.outcome.describe()}")
    expect(error.params.get("iss") == issuer,
           f"error response iss={error.params.get('iss')!r}, expected {issuer!r} (RFC 9207 §2)")


@check("rfc9700-mix-up-defence-advertised", PLAN, "RFC 9700 §2.1, §4.4.2; RFC 9207 §2.3, §3",
       "The provider advertises the iss response parameter", required=False)
def mix_up_advertised(ctx: Context) -> None:
    """RFC 9700 §2.1 and §4.4.2 point clients at the iss parameter against mix-up; a
    provider that does not offer it leaves them without the recommended defence."""
    expect(ctx.metadata.get("authorization_response_iss_parameter_supported") is True,
           "authorization_response_iss_parameter_supported is not true")


# --- refresh tokens -------------------------------------------------------------------------

@check("rfc9700-refresh-rotation", PLAN, "RFC 9700 §2.2.2, §4.14.2",
       "Refresh tokens of public clients are rotated")
def refresh_rotation(ctx: Context) -> None:
    """Public clients' refresh tokens MUST be sender-constrained or rotated; this suite sends
    no DPoP/mTLS, so each refresh must return a new refresh token. With op.toml
    ``provider.rotates_refresh_tokens = true`` the confidential client's must rotate too."""
    clients = [ctx.public_client]
    if ctx.config.rotates_refresh_tokens:  # op.toml says every client's tokens rotate
        clients.append(ctx.client)
    for client in clients:
        _, tokens = _offline(ctx, client)
        response = _refresh(ctx, client, tokens["refresh_token"])
        expect(response.status_code == 200, f"refresh failed: {excerpt(response)}")
        new = response.json().get("refresh_token")
        expect(new and new != tokens["refresh_token"],
               f"the refresh response did not rotate client {client.client_id}'s refresh token")


@check("rfc9700-refresh-reuse-detected", PLAN, "RFC 9700 §4.14.2",
       "Reusing a rotated refresh token is refused and revokes the active one")
def refresh_reuse(ctx: Context) -> None:
    """The old token is refused; the AS then cannot tell who is legitimate and revokes the new one."""
    client = ctx.public_client
    _, tokens = _offline(ctx, client)
    first = _refresh(ctx, client, tokens["refresh_token"])
    expect(first.status_code == 200, f"refresh failed: HTTP {first.status_code}")
    rotated = first.json().get("refresh_token")
    if not rotated or rotated == tokens["refresh_token"]:
        fail("refresh token not rotated, so reuse cannot be detected (see rfc9700-refresh-rotation)")
    _refused(_refresh(ctx, client, tokens["refresh_token"]), "reused refresh token", {"invalid_grant"})
    _refused(_refresh(ctx, client, rotated), "refresh token of a family whose old token was replayed",
             {"invalid_grant"})


# --- client authentication ------------------------------------------------------------------

def pkjwt_client(ctx: Context) -> tuple[ClientConfig, ClientKey]:
    """The run's private_key_jwt client and its key (skips without the method or registration)."""
    if not ctx.supports("token_endpoint_auth_methods_supported", "private_key_jwt"):
        skip("private_key_jwt is not in token_endpoint_auth_methods_supported")
    if not ctx.metadata.get("registration_endpoint"):
        skip("needs a private_key_jwt client: the provider offers no dynamic registration")
    if "pkjwt" not in ctx.cache:
        key = ClientKey.generate()
        client = ctx.register_client({"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks()})
        ctx.cache["pkjwt"] = (client, key)
    return ctx.cache["pkjwt"]


def assertion_request(ctx: Context, client: ClientConfig, assertion: str) -> requests.Response:
    """Redeem a fresh code authenticating with ``assertion`` (RFC 7523 §2.2)."""
    result = ctx.authorize(client)
    return ctx.post(ctx.endpoint("token_endpoint"), data={
        "grant_type": "authorization_code", "code": result.code, "redirect_uri": client.redirect_uri,
        "code_verifier": result.code_verifier or "", "client_id": client.client_id,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
    })


@check("rfc7523-client-assertion-replay", PLAN, "OIDC Core §9 (jti), RFC 7523 §3 item 7",
       "A private_key_jwt client assertion is single-use")
def assertion_replay(ctx: Context) -> None:
    """OIDC Core §9: client assertion JWTs MUST only be used once."""
    client, key = pkjwt_client(ctx)
    assertion = signed_assertion(key, client.client_id, ctx.endpoint("token_endpoint"))
    first = assertion_request(ctx, client, assertion)
    expect(first.status_code == 200, f"a fresh assertion was refused: {excerpt(first)}")
    _refused(assertion_request(ctx, client, assertion), "replayed client assertion", {"invalid_client"})


@check("rfc8725-client-assertion-alg-none", PLAN, "RFC 8725 §2.1, §3.1; OIDC Core §9",
       "A client assertion with alg none is refused")
def assertion_alg_none(ctx: Context) -> None:
    """An unsigned JWT authenticates nobody."""
    client, _ = pkjwt_client(ctx)
    assertion = unsigned_assertion(client.client_id, ctx.endpoint("token_endpoint"))
    _refused(assertion_request(ctx, client, assertion), "alg none assertion", {"invalid_client"})


@check("rfc8725-client-assertion-hs256-public-key", PLAN, "RFC 8725 §2.1, §3.1, §3.2",
       "An HS256 assertion keyed with the client's public key is refused")
def assertion_key_confusion(ctx: Context) -> None:
    """The verifier must not let the token's alg pick how the registered public key is used."""
    client, key = pkjwt_client(ctx)
    assertion = hs256_with_public_key(key, client.client_id, ctx.endpoint("token_endpoint"))
    _refused(assertion_request(ctx, client, assertion), "HS256 assertion keyed with the public key",
             {"invalid_client"})


# --- pages ----------------------------------------------------------------------------------

@check("rfc9700-clickjacking-login", PLAN, "RFC 9700 §4.16",
       "The login page cannot be framed (X-Frame-Options or CSP frame-ancestors)")
def clickjacking(ctx: Context) -> None:
    """Authorization servers MUST prevent clickjacking of their authentication pages."""
    browser = ctx.browser()
    try:
        result = ctx.authorize(session=browser, interact=False)
    finally:
        browser.close()
    if not result.outcome.login_shown:
        fail(f"no login page reached: {result.outcome.describe()}")
    headers = result.outcome.login_page_headers
    xfo = headers.get("x-frame-options", "").strip().lower()
    csp = headers.get("content-security-policy", "").lower()
    ancestors = next((d.strip() for d in csp.split(";") if d.strip().startswith("frame-ancestors")), "")
    safe_csp = ancestors and "*" not in ancestors.split()[1:] and "http:" not in ancestors and "https:" not in ancestors
    expect(xfo in {"deny", "sameorigin"} or safe_csp,
           f"login page sends X-Frame-Options={xfo or None!r}, CSP frame-ancestors={ancestors or None!r}")


@check("rfc9700-login-redirect-not-307", PLAN, "RFC 9700 §4.12; RFC 9110 §15.4.8-15.4.9",
       "The redirect answering the login form is not a 307 (or 308)")
def login_redirect_not_307(ctx: Context) -> None:
    """A 307/308 makes the browser re-POST the person's credentials to the next URL, possibly
    the client's; RFC 9700 §4.12 forbids 307 and recommends 303."""
    browser = ctx.browser()
    try:
        result = ctx.authorize(session=browser)
    finally:
        browser.close()
    if not result.outcome.login_shown:
        fail(f"no login page reached: {result.outcome.describe()}")
    status = result.outcome.login_post_status
    expect(status not in {307, 308}, f"the login form was answered with HTTP {status}, which re-sends the "
                                     "credentials with the redirect")


@check("rfc9700-logout-open-redirect", PLAN, "RFC 9700 §4.11.2; OIDC RP-Initiated Logout §3",
       "The logout endpoint is not an open redirector")
def logout_open_redirect(ctx: Context) -> None:
    """An unregistered post_logout_redirect_uri, with or without client_id, is never followed."""
    endpoint = ctx.endpoint("end_session_endpoint")
    evil = "https://attacker.invalid/landing"
    for params in ({"post_logout_redirect_uri": evil},
                   {"post_logout_redirect_uri": evil, "client_id": ctx.client.client_id}):
        browser = ctx.browser()
        try:
            url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
            outcome = browser.open(url, [evil])
        finally:
            browser.close()
        expect(outcome.kind == "page", f"end_session redirected to {evil} with {sorted(params)}")
