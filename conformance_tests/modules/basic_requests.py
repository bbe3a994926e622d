"""Plan ``basic``, continued: the Basic OP plan's modules about request parameters, scopes,
the authorization request by POST, PKCE, delayed code reuse and unsigned ID tokens.

Test ids are the OpenID Foundation's module names; :data:`conformance_tests.oidf.BASIC_PLAN`
maps every module of that plan to a test here, in ``basic``, or to the reason it is not
applicable.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from conformance_tests.checks import excerpt
from conformance_tests.context import DEFAULT_REDIRECT, Context, b64url_json, pkce_pair
from conformance_tests.modules.basic import userinfo_claims
from conformance_tests.modules.security import check_code_reuse
from conformance_tests.registry import check, expect, fail, skip

PLAN = "basic"

SCOPE_CLAIMS = {
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
    "email": ("email", "email_verified"),
    "profile": ("name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
                "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"),
}
"""OIDC Core §5.4: the claims each scope value requests."""


def _succeeds(ctx: Context, what: str, **kwargs: object) -> None:
    """The request gets a code that redeems to a valid ID token."""
    result = ctx.authorize(**kwargs)  # type: ignore[arg-type]
    if "code" not in result.params:
        fail(f"{what}: no code came back: {result.outcome.describe()} "
             f"{result.params.get('error', '')} {result.params.get('error_description', '')}".strip())
    tokens = ctx.tokens(result)
    ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)


def _scope_test(ctx: Context, scopes: tuple[str, ...]) -> None:
    """OIDC Core §5.4: the scope's claims come back from UserInfo or in the ID token. The OP
    may lack a value for this person or the person may decline, hence recommended."""
    supported = ctx.metadata.get("scopes_supported")
    if isinstance(supported, list):
        missing = [s for s in scopes if s not in supported]
        if missing:
            skip(f"scopes_supported {supported} lacks {missing}")
    result, tokens = ctx.login_and_tokens(scope="openid " + " ".join(scopes), extra={"prompt": "consent"})
    info = userinfo_claims(ctx, tokens["access_token"])
    claims = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
    for scope in scopes:
        returned = (set(info) | set(claims)) & set(SCOPE_CLAIMS[scope])
        expect(returned, f"scope {scope}: none of {list(SCOPE_CLAIMS[scope])} came back "
                         f"(UserInfo keys {sorted(info)}, ID token keys {sorted(claims)}); if the test "
                         "person has no such value, give them one to check this scope")


@check("oidcc-scope-address", PLAN, "OIDC Core §5.4 (address)", "scope address releases the address claim",
       required=False)
def scope_address(ctx: Context) -> None:
    """Requests scope address."""
    _scope_test(ctx, ("address",))


@check("oidcc-scope-phone", PLAN, "OIDC Core §5.4 (phone)", "scope phone releases phone claims",
       required=False)
def scope_phone(ctx: Context) -> None:
    """Requests scope phone."""
    _scope_test(ctx, ("phone",))


@check("oidcc-scope-all", PLAN, "OIDC Core §5.4", "profile, email, address and phone together",
       required=False)
def scope_all(ctx: Context) -> None:
    """Requests every scope of §5.4 at once; each must release at least one of its claims."""
    _scope_test(ctx, ("profile", "email", "address", "phone"))


@check("oidcc-display-page", PLAN, "OIDC Core §3.1.2.1 (display)", "display=page is accepted")
def display_page(ctx: Context) -> None:
    """display is a defined OPTIONAL parameter; page is the default value."""
    _succeeds(ctx, "display=page", extra={"display": "page"})


@check("oidcc-display-popup", PLAN, "OIDC Core §3.1.2.1 (display)", "display=popup is accepted")
def display_popup(ctx: Context) -> None:
    """An OP without a popup layout still serves the request (RFC 6749 §3.1 leniency)."""
    _succeeds(ctx, "display=popup", extra={"display": "popup"})


@check("oidcc-ui-locales", PLAN, "OIDC Core §3.1.2.1 (ui_locales)", "ui_locales is accepted")
def ui_locales(ctx: Context) -> None:
    """An OP that does not support the locales must not refuse the request for it."""
    _succeeds(ctx, "ui_locales=se", extra={"ui_locales": "se"})


@check("oidcc-claims-locales", PLAN, "OIDC Core §5.2 (claims_locales)", "claims_locales is accepted")
def claims_locales(ctx: Context) -> None:
    """Unsupported locales do not make the request fail (OIDC Core §5.2)."""
    _succeeds(ctx, "claims_locales=se", extra={"claims_locales": "se"})


@check("oidcc-ensure-request-with-acr-values-succeeds", PLAN, "OIDC Core §3.1.2.1 (acr_values), §2 (acr)",
       "acr_values as a voluntary request is accepted")
def acr_values(ctx: Context) -> None:
    """acr_values is a voluntary claim request: the OP need not satisfy it, but must not
    refuse; an acr in the ID token is a string."""
    result = ctx.authorize(extra={"acr_values": "1 2"})
    tokens = ctx.tokens(result)
    claims = ctx.id_token_claims(tokens["id_token"], result.client, result.nonce)
    if "acr" in claims:
        expect(isinstance(claims["acr"], str), f"ID token acr {claims['acr']!r} is not a string (OIDC Core §2)")


@check("oidcc-ensure-post-request-succeeds", PLAN, "OIDC Core §3.1.2.1",
       "The authorization request sent by POST succeeds")
def post_request(ctx: Context) -> None:
    """Authorization Servers MUST support the use of the HTTP GET and POST methods."""
    _succeeds(ctx, "authorization request by POST", http_method="POST")


@check("oidcc-ensure-request-with-valid-pkce-succeeds", PLAN, "RFC 7636 §4.3-4.6",
       "A code requested with an S256 code_challenge redeems with its verifier")
def valid_pkce(ctx: Context) -> None:
    """The honest PKCE flow must work wherever S256 is offered."""
    methods = ctx.metadata.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        skip(f"code_challenge_methods_supported {methods} lacks S256")
    result = ctx.authorize(pkce=True)
    response = ctx.redeem(result)
    expect(response.status_code == 200, f"redeeming with the right code_verifier: {excerpt(response)}")


@check("oidcc-codereuse-30seconds", PLAN, "RFC 6749 §4.1.2, §10.5",
       "A code reused after 30 s is refused; what it issued is revoked (required with conforms_to rfc9700)")
def codereuse_30s(ctx: Context) -> None:
    """Waits op.toml timing.code_reuse_wait_s (default 30 s) between the two redemptions; a
    provider that forgets used codes after a while fails here and not in oidcc-codereuse."""
    result = ctx.authorize(scope="openid offline_access", extra={"prompt": "consent"})
    tokens = ctx.tokens(result)
    time.sleep(ctx.config.code_reuse_wait_s)
    check_code_reuse(ctx, result, tokens)


@check("oidcc-idtoken-unsigned", PLAN, "OIDC Core §3.1.3.7 steps 6-7, §10.1; OIDC Discovery §3; RFC 8725 §3.1",
       "No unsigned ID token unless the provider advertises alg none")
def idtoken_unsigned(ctx: Context) -> None:
    """Registers a client asking for id_token_signed_response_alg none. Refusing the
    registration, or signing anyway, passes; issuing an unsigned ID token fails when
    discovery does not list none (the token then carries nothing the client can trust)
    and is a warning when it does (RFC 8725 §3.1 advises against none)."""
    if not ctx.metadata.get("registration_endpoint"):
        skip("needs dynamic registration to ask for id_token_signed_response_alg none")
    body = {"redirect_uris": [DEFAULT_REDIRECT], "grant_types": ["authorization_code"], "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic", "client_name": "porta-conformance alg none",
            "id_token_signed_response_alg": "none"}
    response = ctx.register(body)
    if response.status_code != 201:
        expect(response.status_code == 400, f"registration asking for alg none: {excerpt(response)}, "
                                            "expected 201 or 400 invalid_client_metadata (RFC 7591 §3.2.2)")
        return
    client = ctx.client_from_registration(response.json(), body)
    result, tokens = ctx.login_and_tokens(client)
    header = _header(tokens["id_token"])
    if header.get("alg") != "none":
        ctx.id_token_claims(tokens["id_token"], client, result.nonce)
        return
    advertised = "none" in (ctx.metadata.get("id_token_signing_alg_values_supported") or [])
    fail("the provider issued an unsigned ID token (alg none)"
         + (" as it advertises" if advertised else " though id_token_signing_alg_values_supported "
            f"{ctx.metadata.get('id_token_signing_alg_values_supported')} does not list none"),
         required=not advertised)


def _header(token: str) -> dict:
    try:
        return b64url_json(token.split(".")[0])
    except (ValueError, IndexError):
        fail(f"the ID token is not a JWT: {token[:40]!r}…")


# --- request objects (OIDC Core §6) ----------------------------------------------------------

REJECTIONS = {"request_not_supported", "request_uri_not_supported", "invalid_request_object",
              "invalid_request_uri"}
"""Errors that reject a request object as unsupported (OIDC Core §3.1.2.6; RFC 9101 §6.3)."""


def _unsigned(claims: dict) -> str:
    def segment(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'none', 'typ': 'oauth-authz-req+jwt'})}.{segment(claims)}."


def _object_supported(ctx: Context) -> bool:
    algs = ctx.metadata.get("request_object_signing_alg_values_supported") or []
    return bool(ctx.metadata.get("request_parameter_supported")) and "none" in algs


@check("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", PLAN,
       "OIDC Core §6.1, §6.3.1, §3.1.2.6",
       "An unsigned request object is either honoured or refused, never ignored")
def unsigned_request_object(ctx: Context) -> None:
    """state and nonce travel only inside the request object. An OP that supports it
    returns that state and puts that nonce in the ID token; one that does not answers
    request_not_supported. Issuing a code while ignoring the object fails: the client's
    parameters were silently dropped."""
    client = ctx.client
    state, nonce = "object-" + secrets.token_urlsafe(12), "object-" + secrets.token_urlsafe(12)
    verifier, challenge = pkce_pair()
    request = _unsigned({"iss": client.client_id, "aud": ctx.metadata["issuer"], "response_type": "code",
                         "client_id": client.client_id, "redirect_uri": client.redirect_uri, "scope": "openid",
                         "state": state, "nonce": nonce, "code_challenge": challenge,
                         "code_challenge_method": "S256"})
    result = ctx.authorize(client, pkce=False, drop=["state", "nonce"], extra={"request": request})
    params = result.params
    supported = _object_supported(ctx)
    if "code" not in params:
        if "error" in params:
            expect(not supported, f"the provider advertises unsigned request objects but answered "
                                  f"error={params['error']!r} {params.get('error_description', '')}")
            expect(params["error"] in REJECTIONS,
                   f"error={params['error']!r}, expected request_not_supported (OIDC Core §3.1.2.6)")
            return
        expect(not supported and result.outcome.kind == "page",
               f"neither a code nor an error came back: {result.outcome.describe()}")
        return
    expect(params.get("state") == state,
           f"a code came back with state {params.get('state')!r}, not the request object's {state!r}: "
           "the request object was ignored (OIDC Core §6.3.1)")
    data = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": client.redirect_uri,
            "code_verifier": verifier}
    response = ctx.token_request(client, data)
    expect(response.status_code == 200, f"redeeming the request object's code: {excerpt(response)}")
    ctx.id_token_claims(response.json()["id_token"], client, nonce)


@check("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", PLAN,
       "OIDC Core §6.2, §3.1.2.6", "A request_uri is either fetched or refused, never ignored")
def request_uri_unsigned(ctx: Context) -> None:
    """The suite serves no request objects (nothing listens at its URLs), so an OP that
    supports request_uri is skipped; one that does not must answer request_uri_not_supported
    rather than ignore the parameter and issue a code."""
    if ctx.metadata.get("request_uri_parameter_supported", True):
        skip("request_uri_parameter_supported is true (or absent, which means true): the suite "
             "cannot serve a request object for the provider to fetch")
    missing = "https://127.0.0.1:9/porta-conformance/request-object-not-served"
    result = ctx.authorize(extra={"request_uri": missing})
    params = result.params
    expect("code" not in params, "a code was issued for a request whose request_uri the provider cannot "
                                 "have fetched: the parameter was ignored (OIDC Core §6.2)")
    if "error" in params:
        expect(params["error"] in REJECTIONS,
               f"error={params['error']!r}, expected request_uri_not_supported (OIDC Core §3.1.2.6)")


@check("oidcc-ensure-request-object-with-redirect-uri", PLAN, "OIDC Core §6.3.3, §6.1",
       "The request object's redirect_uri takes precedence over the query's")
def request_object_redirect_uri(ctx: Context) -> None:
    """With an unregistered redirect_uri in the query and the registered one in the object,
    the response goes to the object's (the object's values supersede, §6.3.3)."""
    if not _object_supported(ctx):
        skip("the provider does not advertise unsigned request objects (request_parameter_supported "
             "with none in request_object_signing_alg_values_supported)")
    client = ctx.client
    state = "object-" + secrets.token_urlsafe(12)
    _, challenge = pkce_pair()
    request = _unsigned({"iss": client.client_id, "aud": ctx.metadata["issuer"], "response_type": "code",
                         "client_id": client.client_id, "redirect_uri": client.redirect_uri, "scope": "openid",
                         "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    wrong = client.redirect_uri + "/not-registered"
    result = ctx.authorize(client, pkce=False, drop=["state"], extra={"request": request, "redirect_uri": wrong})
    expect(result.outcome.kind in {"redirect", "form_post"} and result.outcome.url.startswith(client.redirect_uri)
           and not result.outcome.url.startswith(wrong),
           f"expected a response at the object's redirect_uri {client.redirect_uri}: {result.outcome.describe()}")
    expect(result.params.get("state") == state, f"state {result.params.get('state')!r}, expected the object's")
    expect("code" in result.params, f"no code: {result.params}")
