"""Plan ``security``, the life of issued tokens: the token request's redirect_uri, refresh
(RFC 6749 §6), revocation (RFC 7009), introspection (RFC 7662) and UserInfo refusing what
was revoked or has expired (RFC 6750 §3.1).

Every check here is a MUST of the cited section; a provider that does not advertise an
endpoint (``revocation_endpoint``, ``introspection_endpoint``) or grant has those tests
skipped with the reason.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from conformance_tests.checks import error_code, excerpt, json_body, refused, succeeded
from conformance_tests.config import ClientConfig
from conformance_tests.context import Context
from conformance_tests.registry import check, expect, fail, skip

PLAN = "security"
EXTRA_SCOPES = ("email", "profile", "phone", "address")
"""Scopes tried, in this order, to widen a refresh: the first one the provider lists."""


def _scopes(value: Any, fallback: str) -> set[str]:
    return set(str(value).split()) if isinstance(value, str) and value.strip() else set(fallback.split())


def _refresh_ok(ctx: Context, client: ClientConfig, refresh_token: str, what: str) -> dict[str, Any]:
    return succeeded(ctx.refresh(client, refresh_token), what)


# --- token request --------------------------------------------------------------------------

@check("rfc6749-token-redirect-uri-required", PLAN, "RFC 6749 §4.1.3",
       "A code requested with a redirect_uri is not redeemed without one")
def redirect_uri_required(ctx: Context) -> None:
    """The AS MUST ensure redirect_uri is present when the authorization request had one."""
    result = ctx.authorize()
    data = {"grant_type": "authorization_code", "code": result.code}
    if result.code_verifier:
        data["code_verifier"] = result.code_verifier
    refused(ctx.token_request(result.client, data), "token request without redirect_uri",
            {"invalid_grant", "invalid_request"})


# --- refresh ----------------------------------------------------------------------------------

@check("rfc6749-refresh-same-scope", PLAN, "RFC 6749 §6, §5.1",
       "A refresh without scope keeps the scope originally granted")
def refresh_same_scope(ctx: Context) -> None:
    """§6: an omitted scope "is treated as equal to the scope originally granted"; §5.1: a
    response without scope means the scope requested."""
    result, tokens = ctx.offline_tokens(ctx.client)
    granted = _scopes(tokens.get("scope"), result.request_params["scope"])
    refreshed = _refresh_ok(ctx, ctx.client, tokens["refresh_token"], "refresh")
    if "scope" in refreshed:
        got = _scopes(refreshed["scope"], "")
        expect(got == granted, f"refresh without scope returned scope {sorted(got)}, expected the "
                               f"originally granted {sorted(granted)} (RFC 6749 §6)")


@check("rfc6749-refresh-scope-not-widened", PLAN, "RFC 6749 §6, §5.1",
       "A refresh cannot add a scope the person did not grant")
def refresh_not_widened(ctx: Context) -> None:
    """§6: the requested scope MUST NOT include any scope not originally granted. The answer
    is an error (invalid_scope), or tokens whose scope leaves the extra one out."""
    supported = ctx.metadata.get("scopes_supported") or []
    result, tokens = ctx.offline_tokens(ctx.client)
    granted = _scopes(tokens.get("scope"), result.request_params["scope"])
    extra = next((s for s in EXTRA_SCOPES if s in supported and s not in granted), None)
    if extra is None:
        skip(f"scopes_supported {supported} lists none of {list(EXTRA_SCOPES)} beyond the granted {sorted(granted)}")
    wider = " ".join(sorted(granted | {extra}))
    response = ctx.refresh(ctx.client, tokens["refresh_token"], scope=wider)
    if response.status_code != 200:
        refused(response, f"refresh asking for scope {wider!r}")
        return
    body = succeeded(response, "refresh")
    if "scope" not in body:
        fail(f"refresh asking for the ungranted scope {extra!r} answered 200 without a scope member, "
             f"which means the requested scope {wider!r} was granted (RFC 6749 §5.1, §6)")
    got = _scopes(body["scope"], "")
    expect(extra not in got, f"refresh widened the scope to {sorted(got)}: {extra!r} was never granted "
                             f"(granted {sorted(granted)}, RFC 6749 §6)")


@check("rfc6749-refresh-token-bound-to-client", PLAN, "RFC 6749 §6, §10.4",
       "A refresh token is redeemed only by the client it was issued to")
def refresh_bound_to_client(ctx: Context) -> None:
    """§6: the AS MUST ensure the refresh token was issued to the authenticated client."""
    other = ctx.second_client()
    _, tokens = ctx.offline_tokens(ctx.client)
    refused(ctx.refresh(other, tokens["refresh_token"]),
            f"client {other.client_id!r} redeeming {ctx.client.client_id!r}'s refresh token",
            {"invalid_grant", "invalid_client"})


# --- revocation (RFC 7009) --------------------------------------------------------------------

def _revoked(ctx: Context, client: ClientConfig, token: str, hint: str) -> requests.Response:
    """Revoke and insist on the success answer of RFC 7009 §2.2 (HTTP 200)."""
    response = ctx.revoke(client, token, hint)
    if response.status_code == 400 and error_code(response) == "unsupported_token_type" and hint == "access_token":
        skip("the provider does not revoke access tokens (unsupported_token_type, RFC 7009 §2.2.1; "
             "revoking access tokens is a SHOULD)")
    expect(response.status_code == 200,
           f"revoking its own {hint}: {excerpt(response)}, expected HTTP 200 (RFC 7009 §2.2)")
    return response


@check("rfc7009-revoke-refresh-token", PLAN, "RFC 7009 §2, §2.1, §2.2",
       "A revoked refresh token no longer refreshes")
def revoke_refresh_token(ctx: Context) -> None:
    """Implementations MUST support revoking refresh tokens (§2); the token cannot be used
    after its revocation (§2.1)."""
    ctx.endpoint("revocation_endpoint")
    _, tokens = ctx.offline_tokens(ctx.client)
    _revoked(ctx, ctx.client, tokens["refresh_token"], "refresh_token")
    refused(ctx.refresh(ctx.client, tokens["refresh_token"]), "refresh with a revoked refresh token",
            {"invalid_grant"})


@check("rfc7009-revocation-invalid-token", PLAN, "RFC 7009 §2.2",
       "Revoking a token the server does not know answers 200")
def revoke_invalid_token(ctx: Context) -> None:
    """§2.2: invalid tokens do not cause an error response."""
    response = ctx.revoke(ctx.client, "not-a-token-issued-by-you-0123456789")
    expect(response.status_code == 200,
           f"revoking an unknown token: {excerpt(response)}, expected HTTP 200 (RFC 7009 §2.2)")


@check("rfc7009-revocation-requires-client-auth", PLAN, "RFC 7009 §2.1, §5; RFC 6749 §2.3",
       "A revocation request without the client's credentials revokes nothing")
def revoke_requires_auth(ctx: Context) -> None:
    """§2.1: the AS first validates the client credentials of a confidential client; an
    unauthenticated request must be refused and the token must keep working."""
    ctx.endpoint("revocation_endpoint")
    _, tokens = ctx.offline_tokens(ctx.client)
    response = ctx.revoke(None, tokens["refresh_token"], "refresh_token")
    expect(response.status_code in {400, 401},
           f"revocation without client credentials: {excerpt(response)}, expected HTTP 401 invalid_client "
           "(RFC 7009 §2.1, RFC 6749 §5.2)")
    _refresh_ok(ctx, ctx.client, tokens["refresh_token"],
                "refresh after an unauthenticated revocation attempt (the token must still work)")


@check("rfc7009-revocation-other-client", PLAN, "RFC 7009 §2.1",
       "A client cannot revoke another client's token")
def revoke_other_client(ctx: Context) -> None:
    """§2.1: the AS verifies the token was issued to the client making the request. Whether
    it then answers 200 (as for an invalid token) or an error is the provider's policy; the
    token must keep working either way."""
    ctx.endpoint("revocation_endpoint")
    other = ctx.second_client()
    _, tokens = ctx.offline_tokens(ctx.client)
    response = ctx.revoke(other, tokens["refresh_token"], "refresh_token")
    expect(response.status_code in {200, 400, 401, 403},
           f"another client's revocation request: {excerpt(response)}")
    _refresh_ok(ctx, ctx.client, tokens["refresh_token"],
                f"refresh after client {other.client_id!r} tried to revoke the token (it must still work)")


# --- introspection (RFC 7662) -----------------------------------------------------------------

def _introspection(ctx: Context, client: ClientConfig | None, token: str, what: str) -> dict[str, Any]:
    body = succeeded(ctx.introspect(client, token), f"introspection of {what}")
    if not isinstance(body.get("active"), bool):
        fail(f"introspection of {what}: active is {body.get('active')!r}; RFC 7662 §2.2 requires a JSON boolean")
    return body


@check("rfc7662-introspection-response", PLAN, "RFC 7662 §2.2",
       "Introspection answers active tokens with typed members and unknown ones with active false")
def introspection_response(ctx: Context) -> None:
    """active is a REQUIRED boolean; scope a space-separated string; exp, iat, nbf integer
    timestamps; client_id the client the token was issued to."""
    ctx.endpoint("introspection_endpoint")
    _, tokens = ctx.login_and_tokens()
    body = _introspection(ctx, ctx.client, tokens["access_token"], "a fresh access token")
    expect(body["active"] is True, f"a fresh access token is reported inactive: {body}")
    if "scope" in body:
        expect(isinstance(body["scope"], str), f"scope {body['scope']!r} is not a space-separated string")
    for name in ("exp", "iat", "nbf"):
        if name in body:
            value = body[name]
            expect(isinstance(value, int) and not isinstance(value, bool),
                   f"{name} {value!r} is not an integer timestamp (RFC 7662 §2.2)")
    if "client_id" in body:
        expect(body["client_id"] == ctx.client.client_id,
               f"client_id {body['client_id']!r}, expected {ctx.client.client_id!r}")
    unknown = _introspection(ctx, ctx.client, "not-a-token-issued-by-you-0123456789", "an unknown token")
    expect(unknown["active"] is False, f"an unknown token is reported active: {unknown}")


@check("rfc7662-introspection-requires-authorization", PLAN, "RFC 7662 §2.1, §4",
       "Introspection without credentials is refused")
def introspection_requires_auth(ctx: Context) -> None:
    """§2.1: the endpoint MUST require some form of authorization (against token scanning)."""
    ctx.endpoint("introspection_endpoint")
    _, tokens = ctx.login_and_tokens()
    response = ctx.introspect(None, tokens["access_token"])
    body = json_body(response)
    if response.status_code == 200 and isinstance(body, dict) and body.get("active"):
        fail("introspection without any credentials answered active: true with the token's details "
             f"{sorted(body)} (RFC 7662 §2.1)")
    expect(response.status_code in {400, 401},
           f"introspection without credentials: {excerpt(response)}, expected HTTP 401 (RFC 7662 §2.1)")


@check("rfc7662-introspection-revoked-inactive", PLAN, "RFC 7662 §2.2; RFC 7009 §2.1",
       "A revoked token is reported inactive")
def introspection_revoked(ctx: Context) -> None:
    """A true active "will generally indicate that a given token ... has not been revoked";
    after a successful revocation the token is invalid, so active MUST be false."""
    ctx.endpoint("introspection_endpoint")
    ctx.endpoint("revocation_endpoint")
    for hint in ("access_token", "refresh_token"):
        # a fresh grant for each: revoking one token MAY end its siblings (RFC 7009 §2.1)
        _, tokens = ctx.offline_tokens(ctx.client)
        token = tokens[hint]
        before = _introspection(ctx, ctx.client, token, f"the {hint} before revocation")
        expect(before["active"] is True, f"the fresh {hint} is reported inactive before revocation: {before}")
        _revoked(ctx, ctx.client, token, hint)
        after = _introspection(ctx, ctx.client, token, f"the revoked {hint}")
        expect(after["active"] is False, f"the revoked {hint} is still reported active: {after}")


@check("rfc7662-introspection-other-client", PLAN, "RFC 7662 §2.1, §4; RFC 6749 §10.4",
       "Another client's tokens are not described to a client the provider's policy does not allow")
def introspection_other_client(ctx: Context) -> None:
    """§4: the AS MUST decide whether the caller may learn about a token at all; a token
    bound to one client (RFC 6749 §10.4) is none of another client's business. The policy
    held to is op.toml's ``provider.introspection_shared`` (token types any authenticated
    client may introspect, e.g. access tokens for resource servers); every other type must
    come back ``active: false`` or be refused when a second client asks."""
    ctx.endpoint("introspection_endpoint")
    private = [t for t in ("access_token", "refresh_token") if t not in ctx.config.introspection_shared]
    if not private:
        skip("op.toml provider.introspection_shared lets any authenticated client introspect every token type")
    other = ctx.second_client()
    refresh_offered = ("grant_types_supported" not in ctx.metadata
                       or ctx.supports("grant_types_supported", "refresh_token"))
    if "refresh_token" in private and refresh_offered:
        _, tokens = ctx.offline_tokens(ctx.client)
    else:
        _, tokens = ctx.login_and_tokens()
    checked = [t for t in private if t in tokens]
    if not checked:
        skip(f"no {' or '.join(private)} issued to introspect")
    for hint in checked:
        owner = _introspection(ctx, ctx.client, tokens[hint], f"its own {hint}")
        expect(owner["active"] is True, f"the fresh {hint} is reported inactive to its own client: {owner}")
        what = f"client {other.client_id!r} introspecting {ctx.client.client_id!r}'s {hint}"
        response = ctx.introspect(other, tokens[hint])
        if response.status_code in {400, 401, 403}:
            continue  # refused: nothing revealed
        body = json_body(response)
        if response.status_code != 200 or not isinstance(body, dict):
            fail(f"{what}: {excerpt(response)}, expected active false or a refusal (RFC 7662 §2.2, §4)")
        if body.get("active") is not False:
            shared = sorted(ctx.config.introspection_shared) or "none"
            fail(f"{what}: active {body.get('active')!r} with {sorted(body)}; the policy held to "
                 f"(provider.introspection_shared: {shared}) keeps {hint}s private to their client "
                 "(RFC 7662 §4)")


# --- UserInfo (RFC 6750) --------------------------------------------------------------------

@check("rfc6750-userinfo-expired-token", PLAN, "RFC 6750 §3.1; OIDC Core §5.3.3",
       "UserInfo refuses an expired access token with 401 invalid_token")
def userinfo_expired(ctx: Context) -> None:
    """An expired token is invalid_token. Waits op.toml timing.access_token_lifetime_s + 1 s."""
    lifetime = ctx.config.access_token_lifetime_s
    if lifetime is None:
        skip("set [timing] access_token_lifetime_s in op.toml to run this test (it waits that long)")
    _, tokens = ctx.login_and_tokens()
    first = ctx.userinfo_status(tokens["access_token"])
    expect(first.status_code == 200, f"UserInfo with a fresh access token: {excerpt(first)}")
    time.sleep(lifetime + 1.0)
    after = ctx.userinfo_status(tokens["access_token"])
    expect(after.status_code == 401,
           f"UserInfo with an access token {lifetime + 1:.0f} s past its lifetime: {excerpt(after)}, "
           "expected HTTP 401 (RFC 6750 §3.1)")
    challenge = after.headers.get("www-authenticate", "")
    expect("invalid_token" in challenge,
           f"WWW-Authenticate {challenge!r} lacks error=\"invalid_token\" (RFC 6750 §3.1)")


@check("rfc6750-userinfo-revoked-token", PLAN, "RFC 6750 §3.1; RFC 7009 §2.1; OIDC Core §5.3.3",
       "UserInfo refuses a revoked access token with 401 invalid_token")
def userinfo_revoked(ctx: Context) -> None:
    """A revoked token is invalid_token: HTTP 401 with a Bearer challenge, never the claims."""
    ctx.endpoint("revocation_endpoint")
    _, tokens = ctx.login_and_tokens()
    first = ctx.userinfo_status(tokens["access_token"])
    expect(first.status_code == 200, f"UserInfo with a fresh access token: {excerpt(first)}")
    _revoked(ctx, ctx.client, tokens["access_token"], "access_token")
    after = ctx.userinfo_status(tokens["access_token"])
    expect(after.status_code == 401,
           f"UserInfo with the revoked access token: {excerpt(after)}, expected HTTP 401 (RFC 6750 §3.1)")
    challenge = after.headers.get("www-authenticate", "")
    expect("invalid_token" in challenge,
           f"WWW-Authenticate {challenge!r} lacks error=\"invalid_token\" (RFC 6750 §3.1)")
