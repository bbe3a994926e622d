"""Plan ``dynamic``: client registration (OIDC Dynamic Registration 1.0, RFC 7591, RFC 7592).

After the OpenID Foundation's Dynamic OP plan; every test skips when the provider does not
advertise a ``registration_endpoint``.
"""

from __future__ import annotations

from typing import Any

import jwt

from conformance_tests.checks import excerpt
from conformance_tests.context import DEFAULT_REDIRECT, Context
from conformance_tests.keys import ASSERTION_TYPE, ClientKey, signed_assertion
from conformance_tests.registry import check, expect, fail, skip

PLAN = "dynamic"


def _register_ok(ctx: Context, metadata: dict[str, Any]) -> dict[str, Any]:
    body = {"redirect_uris": [DEFAULT_REDIRECT], "response_types": ["code"],
            "grant_types": ["authorization_code"], **metadata}
    response = ctx.register(body)
    if response.status_code != 201:
        fail(f"registration refused: {excerpt(response)}")
    return response.json()


def _refused(ctx: Context, metadata: dict[str, Any], errors: set[str]) -> None:
    response = ctx.register({"response_types": ["code"], "grant_types": ["authorization_code"], **metadata})
    expect(response.status_code == 400,
           f"registration answered HTTP {response.status_code}, expected 400 (RFC 7591 §3.2.2)")
    error = response.json().get("error") if "json" in response.headers.get("content-type", "") else None
    expect(error in errors, f"error {error!r}, expected one of {sorted(errors)}")


@check("porta-registration-response", PLAN, "RFC 7591 §3.2.1, OIDC Registration §3.2",
       "Registration returns 201 with client_id, secret and the registered metadata")
def registration_response(ctx: Context) -> None:
    """A confidential web client registers and can complete the code flow."""
    info = _register_ok(ctx, {"token_endpoint_auth_method": "client_secret_basic",
                              "client_name": "porta-conformance dynamic"})
    expect(info.get("client_id"), "no client_id in the registration response")
    expect(info.get("client_secret"), "no client_secret for a confidential client")
    expect("client_secret_expires_at" in info,
           "client_secret_expires_at is REQUIRED when a secret is issued (RFC 7591 §3.2.1)")
    expect(info.get("redirect_uris") == [DEFAULT_REDIRECT],
           f"redirect_uris echoed as {info.get('redirect_uris')!r}")
    client = ctx.register_client({})
    ctx.login_and_tokens(client)


@check("oidcc-redirect-uri-regfrag", PLAN, "RFC 6749 §3.1.2, OIDC Registration §2 (redirect_uris)",
       "A redirect_uri with a fragment cannot be registered")
def redirect_uri_fragment(ctx: Context) -> None:
    """The redirection endpoint URI MUST NOT include a fragment component."""
    _refused(ctx, {"redirect_uris": [DEFAULT_REDIRECT + "#frag"]},
             {"invalid_redirect_uri", "invalid_client_metadata"})


@check("porta-registration-rejects-bad-redirect", PLAN, "RFC 7591 §2, §3.2.2",
       "A redirect_uri that is not an absolute URI is refused")
def redirect_uri_relative(ctx: Context) -> None:
    """Relative redirect URIs are invalid_redirect_uri."""
    _refused(ctx, {"redirect_uris": ["/relative/callback"]},
             {"invalid_redirect_uri", "invalid_client_metadata"})


@check("oidcc-redirect-uri-query-OK", PLAN, "RFC 6749 §3.1.2, OIDC Core §3.1.2.1",
       "A registered redirect_uri with a query works when sent unchanged")
def redirect_uri_query_ok(ctx: Context) -> None:
    """The query is part of the registered URI and is kept on the response."""
    uri = DEFAULT_REDIRECT + "?foo=bar"
    client = ctx.register_client({"redirect_uris": [uri]})
    result = ctx.authorize(client)
    expect(result.params.get("foo") == "bar",
           f"the registered query was not preserved: {result.outcome.describe()}")
    ctx.tokens(result)


@check("oidcc-redirect-uri-query-mismatch", PLAN, "OIDC Core §3.1.2.1 (simple string comparison)",
       "A changed query on the redirect_uri is refused")
def redirect_uri_query_mismatch(ctx: Context) -> None:
    """Registered ``?foo=bar``, requested ``?foo=zap``: no redirect."""
    client = ctx.register_client({"redirect_uris": [DEFAULT_REDIRECT + "?foo=bar"]})
    result = ctx.authorize(ctx.with_redirect(client, DEFAULT_REDIRECT + "?foo=zap"))
    expect(result.outcome.kind == "page", f"redirected anyway: {result.outcome.describe()}")


@check("oidcc-redirect-uri-query-added", PLAN, "OIDC Core §3.1.2.1 (simple string comparison)",
       "A query added to the registered redirect_uri is refused")
def redirect_uri_query_added(ctx: Context) -> None:
    """Registered without a query, requested with one: no redirect."""
    client = ctx.register_client({})
    result = ctx.authorize(ctx.with_redirect(client, DEFAULT_REDIRECT + "?foo=bar"))
    expect(result.outcome.kind == "page", f"redirected anyway: {result.outcome.describe()}")


@check("oidcc-registration-logo-uri", PLAN, "OIDC Registration §2 (logo_uri, policy_uri, tos_uri)",
       "Display metadata is accepted", required=False)
def registration_logo(ctx: Context) -> None:
    """logo_uri, policy_uri and tos_uri register and the flow still works."""
    client = ctx.register_client({"logo_uri": "https://rp.example/logo.png",
                                  "policy_uri": "https://rp.example/policy",
                                  "tos_uri": "https://rp.example/tos"})
    ctx.login_and_tokens(client)


@check("oidcc-idtoken-rs256", PLAN, "OIDC Registration §2 (id_token_signed_response_alg), Discovery §3",
       "A client registered for RS256 ID tokens gets RS256 ID tokens")
def idtoken_rs256(ctx: Context) -> None:
    """RS256 MUST be supported; the registered alg is honoured."""
    client = ctx.register_client({"id_token_signed_response_alg": "RS256"})
    result, tokens = ctx.login_and_tokens(client)
    alg = jwt.get_unverified_header(tokens["id_token"]).get("alg")
    expect(alg == "RS256", f"ID token alg {alg!r}, registered RS256")
    ctx.id_token_claims(tokens["id_token"], client, result.nonce)


@check("porta-registration-jwks", PLAN, "OIDC Registration §2 (jwks), OIDC Core §9 (private_key_jwt)",
       "A client registered with jwks authenticates with private_key_jwt")
def registration_jwks(ctx: Context) -> None:
    """Register a public key inline and redeem a code with a signed client assertion."""
    if not ctx.supports("token_endpoint_auth_methods_supported", "private_key_jwt"):
        skip("private_key_jwt is not in token_endpoint_auth_methods_supported")
    key = ClientKey.generate()
    client = ctx.register_client({"token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks()})
    result = ctx.authorize(client)
    token_endpoint = ctx.endpoint("token_endpoint")
    response = ctx.post(token_endpoint, data={
        "grant_type": "authorization_code", "code": result.code,
        "redirect_uri": client.redirect_uri, "code_verifier": result.code_verifier or "",
        "client_id": client.client_id, "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed_assertion(key, client.client_id, token_endpoint),
    })
    expect(response.status_code == 200, f"{excerpt(response)}")


@check("porta-registration-read", PLAN, "RFC 7592 §2.1", "The client can read its registration")
def registration_read(ctx: Context) -> None:
    """GET registration_client_uri with the registration access token returns the metadata."""
    info = _register_ok(ctx, {"token_endpoint_auth_method": "client_secret_basic"})
    uri, token = info.get("registration_client_uri"), info.get("registration_access_token")
    if not uri or not token:
        skip("no registration_client_uri / registration_access_token: RFC 7592 not offered")
    response = ctx.get(uri, headers={"Authorization": f"Bearer {token}"})
    expect(response.status_code == 200, f"read answered HTTP {response.status_code}")
    expect(response.json().get("client_id") == info["client_id"], "read returned another client_id")
    denied = ctx.get(uri, headers={"Authorization": "Bearer wrong-token"})
    expect(denied.status_code in {401, 403}, f"a wrong registration token got HTTP {denied.status_code}")
