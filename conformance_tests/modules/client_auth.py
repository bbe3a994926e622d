"""Plan ``security``, client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1;
OIDC Core §9; RFC 7523 §3).

A confidential client MUST authenticate when it redeems a code (RFC 6749 §3.2.1, §4.1.3);
each test here presents credentials that must not authenticate it and expects
``invalid_client`` (RFC 6749 §5.2) and no token.
"""

from __future__ import annotations

from dataclasses import replace

import jwt

from conformance_tests.checks import excerpt, refused
from conformance_tests.context import Context, now
from conformance_tests.keys import assertion_claims, signed_assertion
from conformance_tests.modules.security import assertion_request, pkjwt_client
from conformance_tests.registry import check, expect, skip

PLAN = "security"


@check("rfc6749-client-secret-wrong", PLAN, "RFC 6749 §2.3.1, §3.2.1, §5.2",
       "A wrong client secret is refused with invalid_client")
def wrong_secret(ctx: Context) -> None:
    """RFC 6749 §3.2.1: confidential clients MUST authenticate at the token endpoint; §5.2: a
    failed authentication is invalid_client, with HTTP 401 when the client used the
    Authorization header."""
    client = ctx.client
    result = ctx.authorize(client)
    impostor = replace(client, client_secret=(client.client_secret or "") + "-not-the-secret")
    response = ctx.redeem(result, client=impostor)
    refused(response, "token request with a wrong client secret", {"invalid_client"})
    if client.token_endpoint_auth_method == "client_secret_basic":
        expect(response.status_code == 401,
               f"wrong secret in the Authorization header: {excerpt(response)}, expected HTTP 401 "
               "(RFC 6749 §5.2)")


@check("rfc6749-client-secret-of-another-client", PLAN, "RFC 6749 §2.3.1, §3.2.1, §5.2",
       "One client's id with another client's secret is refused")
def other_clients_secret(ctx: Context) -> None:
    """The secret must be checked against the client_id it is presented with, not against
    any client's secret."""
    other = ctx.second_client()
    result = ctx.authorize(ctx.client)
    mixed = replace(ctx.client, client_secret=other.client_secret)
    refused(ctx.redeem(result, client=mixed),
            f"client_id {ctx.client.client_id!r} with the secret of {other.client_id!r}", {"invalid_client"})


@check("rfc7591-registered-auth-method-enforced", PLAN,
       "RFC 7591 §2 (token_endpoint_auth_method); OIDC Core §9",
       "A client authenticates only with the method it registered", required=False)
def registered_method(ctx: Context) -> None:
    """A client registered for client_secret_basic sends its secret in the body instead.

    No specification says the server MUST refuse this (the secret is right), so this is the
    suite's hardening recommendation, reported as a warning: a server that enforces the
    registered method cannot be walked down from a stronger method to a weaker one.
    """
    client = ctx.client
    other = {"client_secret_basic": "client_secret_post",
             "client_secret_post": "client_secret_basic"}.get(client.token_endpoint_auth_method)
    if other is None or not ctx.supports("token_endpoint_auth_methods_supported", other):
        skip(f"the provider does not list {other} in token_endpoint_auth_methods_supported")
    result = ctx.authorize(client)
    data = {"grant_type": "authorization_code", "code": result.code, "redirect_uri": client.redirect_uri}
    if result.code_verifier:
        data["code_verifier"] = result.code_verifier
    refused(ctx.token_request(client, data, auth=other),
            f"client registered for {client.token_endpoint_auth_method} authenticating with {other}",
            {"invalid_client"})


@check("rfc7523-client-secret-jwt", PLAN, "OIDC Core §9 (client_secret_jwt); RFC 7523 §3; RFC 7521 §4.2",
       "client_secret_jwt works with the secret and is refused with another key")
def client_secret_jwt(ctx: Context) -> None:
    """A client registered for client_secret_jwt redeems its code with an HS256 assertion
    keyed with its secret; the same assertion keyed with anything else is invalid_client."""
    if not ctx.supports("token_endpoint_auth_methods_supported", "client_secret_jwt"):
        skip("client_secret_jwt is not in token_endpoint_auth_methods_supported: not tested")
    if not ctx.metadata.get("registration_endpoint"):
        skip("needs a client_secret_jwt client: the provider offers no dynamic registration")
    client = ctx.registered_client("secret-jwt", {"token_endpoint_auth_method": "client_secret_jwt",
                                                  "token_endpoint_auth_signing_alg": "HS256"})
    expect(client.client_secret, "the registration response for a client_secret_jwt client has no client_secret")
    audience = ctx.endpoint("token_endpoint")
    good = jwt.encode(assertion_claims(client.client_id, audience), client.client_secret or "", algorithm="HS256")
    first = assertion_request(ctx, client, good)
    expect(first.status_code == 200, f"a client_secret_jwt assertion keyed with the secret: {excerpt(first)}")
    forged = jwt.encode(assertion_claims(client.client_id, audience), "not-the-client-secret-0123456789abcdef",
                        algorithm="HS256")
    refused(assertion_request(ctx, client, forged), "client_secret_jwt assertion keyed with another secret",
            {"invalid_client"})


@check("rfc7523-client-assertion-wrong-audience", PLAN, "RFC 7523 §3 item 3; OIDC Core §9 (aud)",
       "A private_key_jwt assertion for another audience is refused")
def assertion_wrong_audience(ctx: Context) -> None:
    """The AS MUST reject any JWT that does not contain its own identity as the audience."""
    client, key = pkjwt_client(ctx)
    assertion = signed_assertion(key, client.client_id, "https://attacker.invalid/token")
    refused(assertion_request(ctx, client, assertion),
            "assertion with aud https://attacker.invalid/token", {"invalid_client"})


@check("rfc7523-client-assertion-expired", PLAN, "RFC 7523 §3 item 4; OIDC Core §9 (exp)",
       "An expired private_key_jwt assertion is refused")
def assertion_expired(ctx: Context) -> None:
    """The AS MUST reject a JWT whose exp has passed; ten minutes is beyond any clock skew."""
    client, key = pkjwt_client(ctx)
    issued = now() - 900
    assertion = signed_assertion(key, client.client_id, ctx.endpoint("token_endpoint"),
                                 iat=issued, exp=issued + 300)
    refused(assertion_request(ctx, client, assertion),
            f"assertion that expired at {issued + 300} (10 min ago)", {"invalid_client"})
