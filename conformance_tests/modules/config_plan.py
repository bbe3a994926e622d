"""Plan ``config``: the discovery document and the JWK Set, after the OpenID Foundation's Config OP plan."""

from __future__ import annotations

from urllib.parse import urlsplit

from conformance_tests.context import Context
from conformance_tests.registry import check, expect, fail

PLAN = "config"

_PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@check("oidcc-discovery-endpoint-verification", PLAN, "OIDC Discovery §3, §4.2",
       "The discovery document has every REQUIRED member")
def endpoint_verification(ctx: Context) -> None:
    """REQUIRED members for a code-flow OP, each of the right type."""
    meta = ctx.metadata
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = meta.get(name)
        expect(isinstance(value, str) and urlsplit(value).scheme in {"http", "https"},
               f"{name} missing or not a URL: {value!r}")
    for name in ("response_types_supported", "subject_types_supported",
                 "id_token_signing_alg_values_supported"):
        expect(isinstance(meta.get(name), list) and meta[name], f"{name} missing or empty")
    expect("code" in meta["response_types_supported"], "response_types_supported lacks code")
    expect(set(meta["subject_types_supported"]) <= {"public", "pairwise"},
           f"subject_types_supported has unknown values {meta['subject_types_supported']}")


@check("porta-discovery-issuer-matches", PLAN, "OIDC Discovery §4.3, RFC 8414 §3.3",
       "issuer in the document is exactly the issuer it was fetched for")
def issuer_matches(ctx: Context) -> None:
    """Exact string comparison, no normalisation."""
    expect(ctx.metadata.get("issuer") == ctx.config.issuer,
           f"issuer {ctx.metadata.get('issuer')!r} != configured {ctx.config.issuer!r}")


@check("porta-discovery-rs256", PLAN, "OIDC Discovery §3 (id_token_signing_alg_values_supported)",
       "RS256 is among the ID token signing algorithms")
def rs256_listed(ctx: Context) -> None:
    """Discovery §3: "The value RS256 MUST be included"; none must not be offered by default."""
    algs = ctx.metadata.get("id_token_signing_alg_values_supported") or []
    expect("RS256" in algs, f"id_token_signing_alg_values_supported {algs} lacks RS256")


@check("porta-discovery-userinfo-endpoint", PLAN, "OIDC Discovery §3 (userinfo_endpoint)",
       "userinfo_endpoint is advertised", required=False)
def userinfo_listed(ctx: Context) -> None:
    """RECOMMENDED member."""
    expect(ctx.metadata.get("userinfo_endpoint"), "userinfo_endpoint is not advertised")


@check("porta-discovery-scopes-supported", PLAN, "OIDC Discovery §3 (scopes_supported)",
       "scopes_supported lists openid", required=False)
def scopes_listed(ctx: Context) -> None:
    """RECOMMENDED member; when present the server MUST support (and list) openid."""
    scopes = ctx.metadata.get("scopes_supported")
    expect(isinstance(scopes, list), "scopes_supported is not advertised")
    expect("openid" in scopes, f"scopes_supported {scopes} lacks openid")


@check("porta-discovery-pkce-s256", PLAN, "RFC 8414 §2 (code_challenge_methods_supported), RFC 9700 §2.1.1",
       "code_challenge_methods_supported advertises S256")
def pkce_advertised(ctx: Context) -> None:
    """RFC 9700 §2.1.1: the AS MUST provide a way to detect PKCE support; discovery is that way."""
    methods = ctx.metadata.get("code_challenge_methods_supported")
    expect(isinstance(methods, list) and "S256" in methods,
           f"code_challenge_methods_supported is {methods!r}, expected a list with S256")


@check("porta-jwks-contents", PLAN, "RFC 7517 §4-5, OIDC Discovery §3 (jwks_uri), OIDC Core §10.1",
       "The JWK Set is public, keys are well-formed and kids unique")
def jwks_contents(ctx: Context) -> None:
    """Signing keys: kty set, no private members, distinct kids when several keys."""
    response = ctx.get(ctx.endpoint("jwks_uri"))
    expect(response.status_code == 200, f"jwks_uri returned HTTP {response.status_code}")
    expect("json" in response.headers.get("content-type", ""),
           f"jwks_uri content-type {response.headers.get('content-type')!r}")
    keys = response.json().get("keys")
    if not isinstance(keys, list) or not keys:
        fail("JWK Set has no keys array")
    kids = [k.get("kid") for k in keys]
    for key in keys:
        expect(key.get("kty") in {"RSA", "EC", "OKP"}, f"key {key.get('kid')!r} has kty {key.get('kty')!r}")
        leaked = _PRIVATE_JWK_MEMBERS & set(key)
        expect(not leaked, f"key {key.get('kid')!r} publishes private members {sorted(leaked)}")
        if key.get("kty") == "RSA":
            n = key.get("n", "")
            expect(len(n) * 6 >= 2040, f"RSA key {key.get('kid')!r} is shorter than 2048 bits")
    if len(keys) > 1:
        expect(all(kids) and len(set(kids)) == len(kids),
               f"several keys need distinct kids (OIDC Core §10.1): {kids}")


@check("oidcc-idtoken-signature", PLAN, "OIDC Core §3.1.3.7 steps 6-7, §10.1",
       "ID tokens are signed with a key from jwks_uri, never alg none")
def idtoken_signature(ctx: Context) -> None:
    """The ID token's kid resolves in the JWK Set and its signature verifies."""
    result, tokens = ctx.login_and_tokens()
    ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
