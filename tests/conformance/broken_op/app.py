"""A small OpenID provider whose security faults can be switched on one at a time.

It exists to prove that each conformance test can fail: with no fault it passes the
security plan; with one fault from :data:`FAULTS` the matching test must turn FAILED (or
WARNING for a recommended rule). It keeps everything in memory and is deliberately short:
it is a test double, not a provider anyone should deploy.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, Response, jsonify, redirect, request
from markupsafe import escape

import consent_spec
from tests.conformance.broken_op import consent as consent_docs

FAULTS: dict[str, str] = {
    "code_reusable": "a redeemed authorization code can be redeemed again",
    "code_reuse_keeps_tokens": "a reused code is refused but the tokens it issued stay valid",
    "code_any_client": "any authenticated client can redeem any code",
    "code_never_expires": "authorization codes never expire",
    "redirect_uri_prefix_match": "redirect_uri matched by prefix instead of exact string",
    "token_ignores_redirect_uri": "the token endpoint does not compare redirect_uri",
    "pkce_downgrade": "a code_verifier is accepted for a code issued without code_challenge",
    "pkce_verifier_optional": "a code bound to a code_challenge is redeemed without code_verifier",
    "pkce_verifier_unchecked": "the code_verifier is not compared with the code_challenge",
    "public_client_without_pkce": "public clients may skip PKCE",
    "no_iss_on_error": "error responses carry no iss parameter",
    "iss_not_advertised": "discovery does not advertise authorization_response_iss_parameter_supported",
    "refresh_not_rotated": "refresh tokens are not rotated",
    "refresh_reuse_not_detected": "a rotated-out refresh token keeps working",
    "assertion_replay_allowed": "client assertions can be replayed (jti not tracked)",
    "assertion_alg_none_accepted": "client assertions with alg none are accepted",
    "assertion_hs256_public_key": "HS256 client assertions keyed with the client's public key are accepted",
    "login_page_framable": "the login page sends no anti-framing headers",
    "logout_open_redirect": "end_session redirects to any post_logout_redirect_uri",
    "login_redirect_307": "the login form is answered with a 307 redirect",
    "client_secret_unchecked": "the token endpoint accepts any client secret",
    "client_secret_any_client": "a client authenticates with any registered client's secret",
    "auth_method_not_enforced": "clients may authenticate with a method other than the registered one",
    "assertion_aud_unchecked": "client assertions for any audience are accepted",
    "assertion_exp_unchecked": "expired client assertions are accepted",
    "token_redirect_uri_optional": "a token request without redirect_uri is accepted",
    "refresh_narrows_scope": "a refresh without scope returns a narrower scope than granted",
    "refresh_widens_scope": "a refresh grants any scope it asks for",
    "refresh_any_client": "any client can redeem any refresh token",
    "revocation_noop": "the revocation endpoint answers 200 and revokes nothing",
    "revocation_unknown_token_error": "revoking an unknown token answers 400",
    "revocation_without_client_auth": "revocation requests need no client authentication",
    "revocation_any_client": "a client can revoke another client's tokens",
    "introspection_active_as_string": "introspection answers active as the string \"true\"",
    "introspection_without_auth": "introspection needs no client authentication",
    "introspection_ignores_revocation": "introspection reports revoked tokens active",
    "introspection_any_client": "introspection describes a token to any authenticated client",
    "userinfo_ignores_revocation": "UserInfo accepts revoked access tokens",
    "id_token_at_hash_wrong": "the ID token's at_hash is not the access token's hash",
    "id_token_exp_equals_iat": "ID tokens expire the second they are issued (exp == iat)",
    "id_token_iat_stale": "ID tokens carry an iat an hour in the past",
    "id_token_azp_other": "ID tokens name another party in azp (and in aud)",
    "id_token_nonce_dropped": "the ID token does not carry the request's nonce",
    "id_token_wrong_key": "ID tokens are signed with a key that is not in the JWKS",
    "id_token_auth_time_missing": "ID tokens never carry auth_time, even when max_age was sent",
    "max_age_ignored": "max_age does not force a new login",
    "state_dropped": "the authorization response leaves out state",
    "response_type_missing_accepted": "a request without response_type is treated as code",
    "redirect_uri_unchecked": "any redirect_uri is accepted at the authorization endpoint",
    "redirect_uri_query_ignored": "redirect_uri is compared without its query",
    "prompt_none_shows_login": "prompt=none without a session shows the login page",
    "prompt_login_ignored": "prompt=login does not force a new login",
    "userinfo_wrong_sub": "UserInfo answers with another subject than the ID token's",
    "userinfo_no_challenge": "UserInfo refuses invalid tokens without a WWW-Authenticate challenge",
    "refresh_changes_sub": "ID tokens from a refresh name another subject",
    "discovery_issuer_mismatch": "discovery's issuer has a trailing slash the configured issuer lacks",
    "jwks_private_members": "the JWK Set publishes the private exponent",
    "pkce_not_advertised": "discovery does not list S256 in code_challenge_methods_supported",
    "form_post_no_iss": "form_post responses carry no iss",
    "registration_accepts_fragment": "redirect URIs with a fragment can be registered",
    "registration_accepts_relative": "relative redirect URIs can be registered",
    "logout_target_unchecked_with_hint": "with an id_token_hint, logout redirects to any post_logout_redirect_uri",
    "logout_prefix_match": "post_logout_redirect_uri matched by prefix",
    "logout_hint_unverified": "the id_token_hint's signature is not verified at logout",
    "display_page_refused": "display=page is refused",
    "display_popup_refused": "display=popup is refused",
    "ui_locales_refused": "ui_locales is refused",
    "claims_locales_refused": "claims_locales is refused",
    "acr_values_refused": "acr_values is refused",
    "authorize_post_unsupported": "the authorization endpoint answers POST with 405",
    "pkce_s256_compared_as_plain": "the code_verifier is compared with the challenge as if method were plain",
    "code_reusable_after_delay": "a used code is forgotten after half a second and can be redeemed again",
    "address_withheld": "scope address releases no address claim",
    "phone_withheld": "scope phone releases no phone claims",
    "scope_claims_withheld": "UserInfo releases no claims of the profile, address or phone scopes",
    "id_token_alg_none_honoured": "a client registered for alg none gets unsigned ID tokens, none not advertised",
    "client_secret_jwt_unverified": "client_secret_jwt assertions are accepted without checking the HMAC",
    "request_object_ignored": "a request object is ignored and the query parameters alone are served",
    "request_uri_ignored": "request_uri is ignored and the query parameters alone are served",
    "access_token_never_expires": "UserInfo accepts access tokens past their lifetime",
    "consent_receipt_wrong_typ": "consent receipts are signed with typ JWT instead of consent-receipt+jwt",
    "consent_unticked_claim_released": "claims the person unticked are released anyway",
    "consent_withdrawal_keeps_tokens": "withdrawing consent leaves the issued tokens working",
    "consent_event_not_pushed": "no consent-withdrawn SET is pushed to the RP",
    "consent_export_chain_broken": "the exported ledger's hash chain does not verify",
}
SCOPE_CLAIMS = {"email": ["email", "email_verified"], "profile": ["name"], "address": ["address"],
                "phone": ["phone_number", "phone_number_verified"]}
"""Claims each scope asks for, as recorded in consent records."""

USERNAME = "bob@example.com"
PASSWORD = "broken-but-honest"


@dataclass
class Client:
    client_id: str
    redirect_uris: list[str]
    secret: str | None = None
    auth_method: str = "client_secret_basic"
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    jwks: dict[str, Any] | None = None
    consent_event_endpoint: str | None = None
    unsigned_id_tokens: bool = False


@dataclass
class State:
    faults: set[str] = field(default_factory=set)
    clients: dict[str, Client] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    revoked_families: set[str] = field(default_factory=set)
    revoked_access: set[str] = field(default_factory=set)
    seen_jti: set[str] = field(default_factory=set)
    code_lifetime_s: float = 60.0
    access_token_lifetime_s: float = 300.0
    ledgers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    receipts: dict[str, list[str]] = field(default_factory=dict)
    consents: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    revoked_records: set[str] = field(default_factory=set)
    throttle: dict[str, int] = field(default_factory=dict)
    """path: how many requests to it are answered 429 before it is served again (-1: all)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _half_hash(value: str) -> str:
    """at_hash for RS256 (OIDC Core §3.3.2.11)."""
    return _b64(hashlib.sha256(value.encode()).digest()[:16])


def create_app(issuer: str) -> Flask:
    """The double's Flask app; ``app.config["STATE"].faults`` holds the active faults."""
    app = Flask(__name__)
    state = State()
    app.config["STATE"] = state
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())),
                  "kid": "double-rs256", "alg": "RS256", "use": "sig"}
    receipt_key = ec.generate_private_key(ec.SECP256R1())
    receipt_jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(receipt_key.public_key())),
                   "kid": "double-es256", "alg": "ES256", "use": "sig"}

    def fault(name: str) -> bool:
        return name in state.faults

    @app.before_request
    def throttled() -> Response | None:
        """HTTP 429 with Retry-After 0 while state.throttle says so (RFC 6585 §4)."""
        left = state.throttle.get(request.path, 0)
        if left == 0:
            return None
        if left > 0:
            state.throttle[request.path] = left - 1
        return Response("slow down", 429, {"Retry-After": "0"})

    def error_redirect(req: dict[str, Any], error: str) -> Response:
        params = {"error": error, "state": req.get("state", "")}
        if not fault("no_iss_on_error"):
            params["iss"] = issuer
        return respond(req, params)

    def respond(req: dict[str, Any], params: dict[str, str]) -> Response:
        uri = req["redirect_uri"]
        if req.get("response_mode") == "form_post":
            inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items())
            return Response(f'<html><body onload="document.forms[0].submit()"><form method="post" '
                            f'action="{escape(uri)}">{inputs}</form></body></html>', content_type="text/html")
        return redirect(uri + ("&" if "?" in uri else "?") + urlencode(params), code=302)

    def page(body: str) -> Response:
        response = Response(f"<!doctype html><html><body>{body}</body></html>", content_type="text/html")
        if not fault("login_page_framable"):
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response

    def session() -> dict[str, Any] | None:
        return state.sessions.get(request.cookies.get("double_sid", ""))

    def redirect_ok(client: Client, uri: str) -> bool:
        if fault("redirect_uri_unchecked"):
            return True
        if fault("redirect_uri_query_ignored"):
            return uri.split("?")[0] in {r.split("?")[0] for r in client.redirect_uris}
        if fault("redirect_uri_prefix_match"):
            return any(uri.startswith(r) for r in client.redirect_uris)
        return uri in client.redirect_uris

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        meta = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "registration_endpoint": f"{issuer}/register",
            "revocation_endpoint": f"{issuer}/revoke",
            "introspection_endpoint": f"{issuer}/introspect",
            "end_session_endpoint": f"{issuer}/logout",
            "scopes_supported": ["openid", "email", "profile", "address", "phone", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                      "client_secret_jwt", "private_key_jwt", "none"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "consent_receipts_supported": True,
            "consent_withdrawal_endpoint": f"{issuer}/consent/withdraw",
            "consent_export_endpoint": f"{issuer}/consent/export",
        }
        if fault("iss_not_advertised"):
            del meta["authorization_response_iss_parameter_supported"]
        if fault("discovery_issuer_mismatch"):
            meta["issuer"] = issuer + "/"
        if fault("pkce_not_advertised"):
            del meta["code_challenge_methods_supported"]
        return jsonify(meta)

    @app.get("/jwks")
    def jwks() -> Response:
        published = {**public_jwk, "d": "leaked"} if fault("jwks_private_members") else public_jwk
        return jsonify({"keys": [published, receipt_jwk]})

    @app.post("/register")
    def register() -> tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        uris = body.get("redirect_uris") or []
        bad_fragment = any("#" in u for u in uris) and not fault("registration_accepts_fragment")
        relative = any(not u.startswith(("http://", "https://")) for u in uris)
        if not uris or bad_fragment or (relative and not fault("registration_accepts_relative")):
            return jsonify({"error": "invalid_redirect_uri"}), 400
        method = body.get("token_endpoint_auth_method", "client_secret_basic")
        client = Client(client_id=secrets.token_hex(8), redirect_uris=uris, auth_method=method,
                        post_logout_redirect_uris=body.get("post_logout_redirect_uris", []),
                        jwks=body.get("jwks"), consent_event_endpoint=body.get("consent_event_endpoint"),
                        unsigned_id_tokens=body.get("id_token_signed_response_alg") == "none"
                        and fault("id_token_alg_none_honoured"))
        if method in {"client_secret_basic", "client_secret_post", "client_secret_jwt"}:
            client.secret = secrets.token_urlsafe(24)
        state.clients[client.client_id] = client
        info = {**body, "client_id": client.client_id, "token_endpoint_auth_method": method}
        if client.secret:
            info.update(client_secret=client.secret, client_secret_expires_at=0)
        return jsonify(info), 201

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        if request.method == "POST" and fault("authorize_post_unsupported"):
            return Response("method not allowed", 405)
        req = (request.form if request.method == "POST" else request.args).to_dict()
        client = state.clients.get(req.get("client_id", ""))
        if client is None or not redirect_ok(client, req.get("redirect_uri", "")):
            return page("<p>invalid client or redirect_uri</p>")
        if "request" in req and not fault("request_object_ignored"):
            return error_redirect(req, "request_not_supported")
        if "request_uri" in req and not fault("request_uri_ignored"):
            return error_redirect(req, "request_uri_not_supported")
        refused = {"display_page_refused": req.get("display") == "page",
                   "display_popup_refused": req.get("display") == "popup",
                   "ui_locales_refused": "ui_locales" in req, "claims_locales_refused": "claims_locales" in req,
                   "acr_values_refused": "acr_values" in req}
        if any(hit and fault(name) for name, hit in refused.items()):
            return error_redirect(req, "invalid_request")
        if "response_type" not in req and fault("response_type_missing_accepted"):
            req["response_type"] = "code"
        if req.get("response_type") != "code":
            return error_redirect(req, "invalid_request")
        if client.auth_method == "none" and "code_challenge" not in req and not fault("public_client_without_pkce"):
            return error_redirect(req, "invalid_request")
        current = session()
        prompt = req.get("prompt", "").split()
        too_old = (current and "max_age" in req and not fault("max_age_ignored")
                   and time.time() - current["auth_time"] > int(req["max_age"]))
        relogin = "login" in prompt and not fault("prompt_login_ignored")
        if current is None or relogin or too_old:
            if "none" in prompt and not fault("prompt_none_shows_login"):
                return error_redirect(req, "login_required")
            pending_id = secrets.token_urlsafe(16)
            state.pending[pending_id] = req
            return page(f'<form method="post" action="/login"><input type="hidden" name="pending" value="{pending_id}">'
                        '<input type="text" name="username"><input type="password" name="password">'
                        '<button type="submit">Sign in</button></form>')
        return consent_or_finish(req, current)

    def requested_claims(req: dict[str, Any]) -> list[str]:
        return [c for scope in req.get("scope", "").split() for c in SCOPE_CLAIMS.get(scope, [])]

    def consent_or_finish(req: dict[str, Any], current: dict[str, Any]) -> Response:
        """Ask for consent when new claims are requested or prompt=consent says so."""
        claims = requested_claims(req)
        earlier = state.consents.get((current["sub"], req["client_id"]))
        covered = earlier is not None and set(claims) <= set(earlier["request"]["claims"])
        if not ("consent" in req.get("prompt", "").split() or (claims and not covered)):
            return finish(req, current, earlier)
        pending_id = secrets.token_urlsafe(16)
        state.pending[pending_id] = req
        boxes = "".join(f'<label><input type="checkbox" name="claims" value="{c}" checked>{c}</label>'
                        for c in claims)
        return page(f'<form method="post" action="/consent"><input type="hidden" name="pending" '
                    f'value="{pending_id}">{boxes}<button name="decision" value="approve">Allow</button>'
                    '<button name="decision" value="deny">Deny</button></form>')

    @app.post("/consent")
    def consent() -> Response:
        req = state.pending.pop(request.form.get("pending", ""), None)
        current = session()
        if req is None or current is None:
            return page("<p>unknown consent request</p>")
        if request.form.get("decision") != "approve":
            return error_redirect(req, "access_denied")
        claims = requested_claims(req)
        record = None
        if claims:
            granted = [c for c in request.form.getlist("claims") if c in claims]
            ledger = state.ledgers.setdefault(current["sub"], [])
            record = consent_docs.new_record(subject=current["sub"], client_id=req["client_id"],
                                             requested=claims, granted=granted, ledger=ledger)
            ledger.append(record)
            state.consents[(current["sub"], req["client_id"])] = record
        return finish(req, current, record)

    @app.post("/login")
    def login() -> Response:
        req = state.pending.pop(request.form.get("pending", ""), None)
        if req is None:
            return page("<p>unknown login request</p>")
        if request.form.get("username") != USERNAME or request.form.get("password") != PASSWORD:
            return page("<p>wrong password</p>")
        sid = secrets.token_urlsafe(16)
        state.sessions[sid] = {"sub": "bob", "auth_time": int(time.time())}
        response = consent_after_login(req, state.sessions[sid])
        if fault("login_redirect_307") and response.status_code in {302, 303}:
            response.status_code = 307
        response.set_cookie("double_sid", sid, httponly=True)
        return response

    def consent_after_login(req: dict[str, Any], current: dict[str, Any]) -> Response:
        """Right after login the browser does not hold the session cookie yet: the consent
        decision is taken on the next request, /consent-page, which has it."""
        claims = requested_claims(req)
        if claims or "consent" in req.get("prompt", "").split():
            pending_id = secrets.token_urlsafe(16)
            state.pending[pending_id] = req
            return redirect(f"/consent-page?pending={pending_id}", code=303)
        return finish(req, current, None)

    @app.get("/consent-page")
    def consent_page() -> Response:
        req = state.pending.pop(request.args.get("pending", ""), None)
        current = session()
        if req is None or current is None:
            return page("<p>unknown consent request</p>")
        return consent_or_finish(req, current)

    def finish(req: dict[str, Any], current: dict[str, Any], record: dict[str, Any] | None) -> Response:
        code = secrets.token_urlsafe(24)
        claims = requested_claims(req)
        released = claims if fault("consent_unticked_claim_released") else (
            [c for c in claims if record and c in record["granted"]])
        state.codes[code] = {"req": req, "sub": current["sub"], "auth_time": current["auth_time"],
                             "issued": time.time(), "used": False, "family": secrets.token_hex(8),
                             "record": record, "released": released}
        params = {"code": code, "state": req.get("state", ""), "iss": issuer}
        if fault("state_dropped"):
            del params["state"]
        if fault("form_post_no_iss") and req.get("response_mode") == "form_post":
            del params["iss"]
        return respond(req, params)

    def secret_ok(client: Client, presented: str) -> bool:
        if fault("client_secret_unchecked"):
            return True
        if fault("client_secret_any_client"):
            return any(c.secret and hmac.compare_digest(c.secret, presented) for c in state.clients.values())
        return bool(client.secret) and hmac.compare_digest(client.secret or "", presented)

    def method_ok(client: Client, method: str) -> bool:
        return client.auth_method == method or fault("auth_method_not_enforced")

    def authenticate_client() -> Client | None:
        form = request.form
        if request.authorization and request.authorization.type == "basic":
            client = state.clients.get(request.authorization.username or "")
            ok = (client and method_ok(client, "client_secret_basic")
                  and secret_ok(client, request.authorization.password or ""))
            return client if ok else None
        if "client_assertion" in form:
            return assertion_client(form["client_assertion"], form.get("client_id", ""))
        client = state.clients.get(form.get("client_id", ""))
        if client is None:
            return None
        if client.auth_method == "none":
            return client
        ok = method_ok(client, "client_secret_post") and secret_ok(client, form.get("client_secret", ""))
        return client if ok else None

    def assertion_client(assertion: str, client_id: str) -> Client | None:
        client = state.clients.get(client_id)
        if client is not None and client.auth_method == "client_secret_jwt":
            return secret_jwt_client(client, assertion)
        if client is None or not client.jwks:
            return None
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") == "none":
                if not fault("assertion_alg_none_accepted"):
                    return None
                claims = jwt.decode(assertion, options={"verify_signature": False})
            elif header.get("alg") == "HS256":
                if not fault("assertion_hs256_public_key"):
                    return None
                pem = jwt.PyJWK(client.jwks["keys"][0]).key.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                head, payload, signature = assertion.split(".")
                expected = _b64(hmac.new(pem, f"{head}.{payload}".encode(), hashlib.sha256).digest())
                if not hmac.compare_digest(expected, signature):
                    return None
                claims = jwt.decode(assertion, options={"verify_signature": False})
            else:
                key = jwt.PyJWK(client.jwks["keys"][0]).key
                claims = jwt.decode(assertion, key, algorithms=["ES256", "RS256"],
                                    audience=[f"{issuer}/token", issuer],
                                    options={"verify_aud": not fault("assertion_aud_unchecked"),
                                             "verify_exp": not fault("assertion_exp_unchecked"),
                                             "require": ["exp", "jti"]})
        except (jwt.PyJWTError, ValueError, KeyError):
            return None
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return None
        with state.lock:
            if claims.get("jti") in state.seen_jti and not fault("assertion_replay_allowed"):
                return None
            state.seen_jti.add(claims.get("jti"))
        return client

    def secret_jwt_client(client: Client, assertion: str) -> Client | None:
        """client_secret_jwt (OIDC Core §9): HS256 keyed with the client secret."""
        try:
            claims = jwt.decode(assertion, client.secret or "", algorithms=["HS256"],
                                audience=[f"{issuer}/token", issuer],
                                options={"verify_signature": not fault("client_secret_jwt_unverified"),
                                         "require": ["exp", "jti"]})
        except jwt.PyJWTError:
            return None
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            return None
        with state.lock:
            if claims["jti"] in state.seen_jti:
                return None
            state.seen_jti.add(claims["jti"])
        return client

    def token_error(error: str, status: int = 400) -> tuple[Response, int]:
        return jsonify({"error": error}), status

    def issue(client: Client, sub: str, scope: str, family: str, nonce: str | None,
              auth_time: int, record: dict[str, Any] | None = None,
              released: list[str] | None = None, refreshed: bool = False) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        record_id = record["record_id"] if record else None
        now = int(time.time())
        state.access_tokens[access] = {"sub": sub, "family": family, "scope": scope, "client_id": client.client_id,
                                       "released": released or [], "record_id": record_id,
                                       "exp": time.time() + state.access_token_lifetime_s, "iat": now}
        claims = {"iss": issuer, "sub": sub, "aud": client.client_id, "iat": now, "exp": now + 300,
                  "auth_time": auth_time, "at_hash": _half_hash(access + ("x" if fault("id_token_at_hash_wrong") else ""))}
        if nonce and not fault("id_token_nonce_dropped"):
            claims["nonce"] = nonce
        if fault("id_token_auth_time_missing"):
            del claims["auth_time"]
        if fault("id_token_exp_equals_iat"):
            claims["exp"] = now
        if fault("id_token_iat_stale"):
            claims["iat"] = now - 3600
        if fault("id_token_azp_other"):
            claims.update(aud=[client.client_id, "another-rp"], azp="another-rp")
        if refreshed and fault("refresh_changes_sub"):
            claims["sub"] = sub + "-someone-else"
        signer = other_key if fault("id_token_wrong_key") else key
        id_token = (jwt.encode(claims, None, algorithm="none") if client.unsigned_id_tokens
                    else jwt.encode(claims, signer, algorithm="RS256", headers={"kid": "double-rs256"}))
        out = {"access_token": access, "token_type": "Bearer", "expires_in": 300, "scope": scope,
               "id_token": id_token}
        if "offline_access" in scope.split():
            refresh = secrets.token_urlsafe(24)
            state.refresh_tokens[refresh] = {"client_id": client.client_id, "sub": sub, "scope": scope,
                                             "family": family, "used": False, "auth_time": auth_time,
                                             "record": record, "released": released or []}
            out["refresh_token"] = refresh
        if record is not None:
            typ = "JWT" if fault("consent_receipt_wrong_typ") else "consent-receipt+jwt"
            out["consent_receipt"] = consent_docs.receipt(record, issuer=issuer, client_id=client.client_id,
                                                          key=receipt_key, kid="double-es256", typ=typ)
            state.receipts.setdefault(sub, []).append(out["consent_receipt"])
        return out

    @app.post("/token")
    def token() -> Any:
        client = authenticate_client()
        if client is None:
            return token_error("invalid_client", 401)
        grant = request.form.get("grant_type")
        if grant == "authorization_code":
            return code_grant(client)
        if grant == "refresh_token":
            return refresh_grant(client)
        return token_error("unsupported_grant_type")

    def code_grant(client: Client) -> Any:
        form = request.form
        with state.lock:
            record = state.codes.get(form.get("code", ""))
            if record is None:
                return token_error("invalid_grant")
            forgotten = fault("code_reusable_after_delay") and record["used"] and time.time() - record["used"] > 0.5
            if record["used"] and not fault("code_reusable") and not forgotten:
                if not fault("code_reuse_keeps_tokens"):
                    state.revoked_families.add(record["family"])
                return token_error("invalid_grant")
            record["used"] = time.time()
        req = record["req"]
        if req["client_id"] != client.client_id and not fault("code_any_client"):
            return token_error("invalid_grant")
        if time.time() - record["issued"] > state.code_lifetime_s and not fault("code_never_expires"):
            return token_error("invalid_grant")
        omitted = "redirect_uri" not in form and fault("token_redirect_uri_optional")
        if form.get("redirect_uri") != req["redirect_uri"] and not (fault("token_ignores_redirect_uri") or omitted):
            return token_error("invalid_grant")
        verifier = form.get("code_verifier")
        challenge = req.get("code_challenge")
        if challenge:
            if not verifier:
                if not fault("pkce_verifier_optional"):
                    return token_error("invalid_grant")
            else:
                computed = verifier if fault("pkce_s256_compared_as_plain") else _b64(
                    hashlib.sha256(verifier.encode()).digest())
                if computed != challenge and not fault("pkce_verifier_unchecked"):
                    return token_error("invalid_grant")
        elif verifier and not fault("pkce_downgrade"):
            return token_error("invalid_grant")
        return jsonify(issue(client, record["sub"], req.get("scope", "openid"), record["family"],
                             req.get("nonce"), record["auth_time"], record["record"], record["released"]))

    def refresh_grant(client: Client) -> Any:
        with state.lock:
            record = state.refresh_tokens.get(request.form.get("refresh_token", ""))
            if record is None or (record["client_id"] != client.client_id and not fault("refresh_any_client")):
                return token_error("invalid_grant")
            scope = record["scope"]
            asked = request.form.get("scope")
            if asked is not None:
                if not set(asked.split()) <= set(scope.split()) and not fault("refresh_widens_scope"):
                    return token_error("invalid_scope")
                scope = asked
            if fault("refresh_narrows_scope") and asked is None:
                scope = "openid"
            if record["family"] in state.revoked_families:
                return token_error("invalid_grant")
            if record["record"] and record["record"]["record_id"] in state.revoked_records:
                return token_error("invalid_grant")
            if record["used"] and not fault("refresh_reuse_not_detected"):
                state.revoked_families.add(record["family"])
                return token_error("invalid_grant")
            rotate = not fault("refresh_not_rotated")
            record["used"] = rotate
        out = issue(client, record["sub"], scope, record["family"], None, record["auth_time"],
                    record["record"], record["released"], refreshed=True)
        if not rotate:
            state.refresh_tokens.pop(out["refresh_token"], None)
            out["refresh_token"] = request.form["refresh_token"]
        return jsonify(out)

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Any:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.form.get("access_token", "")
        record = state.access_tokens.get(token)
        revoked = token in state.revoked_access and not fault("userinfo_ignores_revocation")
        expired = record is not None and record["exp"] <= time.time() and not fault("access_token_never_expires")
        revoked = revoked or expired
        if (record is None or revoked or record["family"] in state.revoked_families
                or record["record_id"] in state.revoked_records):
            challenge = {} if fault("userinfo_no_challenge") else {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return Response("", 401, challenge)
        info: dict[str, Any] = {"sub": record["sub"] + ("-other" if fault("userinfo_wrong_sub") else "")}
        if "email" in record["released"]:
            info["email"] = USERNAME
        if "email_verified" in record["released"]:
            info["email_verified"] = True
        if "name" in record["released"]:
            info["name"] = "Bob Broken"
        withheld = fault("scope_claims_withheld")
        if "address" in record["released"] and not (withheld or fault("address_withheld")):
            info["address"] = {"country": "NZ"}
        if "phone_number" in record["released"] and not (withheld or fault("phone_withheld")):
            info.update(phone_number="+64 4 000 0000", phone_number_verified=False)
        if withheld:
            info.pop("name", None)
        return jsonify(info)

    @app.post("/revoke")
    def revoke() -> Any:
        """RFC 7009: a refresh token revokes its family, an access token only itself."""
        client = authenticate_client()
        if client is None and not fault("revocation_without_client_auth"):
            return token_error("invalid_client", 401)
        token = request.form.get("token", "")
        record = state.refresh_tokens.get(token) or state.access_tokens.get(token)
        if record is None:
            return token_error("invalid_request") if fault("revocation_unknown_token_error") else ("", 200)
        owner = client is not None and record["client_id"] == client.client_id
        if (owner or fault("revocation_any_client") or client is None) and not fault("revocation_noop"):
            if token in state.refresh_tokens:
                state.revoked_families.add(record["family"])
            else:
                state.revoked_access.add(token)
        return "", 200

    @app.post("/introspect")
    def introspect() -> Any:
        """RFC 7662: only the client a token was issued to learns that it is active."""
        client = authenticate_client()
        if client is None and not fault("introspection_without_auth"):
            return token_error("invalid_client", 401)
        token = request.form.get("token", "")
        access, refresh = state.access_tokens.get(token), state.refresh_tokens.get(token)
        record = access or refresh
        ignore = fault("introspection_ignores_revocation")
        mine = client is None or (record is not None and record["client_id"] == client.client_id)
        active = record is not None and (mine or fault("introspection_any_client"))
        if active and not ignore:
            active = (record["family"] not in state.revoked_families and token not in state.revoked_access
                      and not (refresh and refresh["used"]))
        if active and access:
            active = access["exp"] > time.time()
        if not active:
            return jsonify({"active": False})
        body = {"active": "true" if fault("introspection_active_as_string") else True,
                "scope": record["scope"], "client_id": record["client_id"], "sub": record["sub"],
                "token_type": "Bearer" if access else "refresh_token"}
        if access:
            body.update(exp=int(access["exp"]), iat=access["iat"])
        return jsonify(body)

    @app.post("/consent/withdraw")
    def withdraw() -> Any:
        current = session()
        document = request.get_json(silent=True)
        if current is None:
            return jsonify({"error": "login_required"}), 401
        if not isinstance(document, dict) or consent_spec.validate(document, "withdrawal"):
            return jsonify({"error": "invalid_request"}), 400
        ledger = state.ledgers.get(current["sub"], [])
        previous = next((r for r in ledger if r["record_id"] == document["record_id"]), None)
        if previous is None:
            return jsonify({"error": "invalid_request"}), 404
        new = consent_docs.withdrawn_record(previous, document["withdrawal_id"], ledger)
        ledger.append(new)
        state.consents.pop((current["sub"], document["client_id"]), None)
        if not fault("consent_withdrawal_keeps_tokens"):
            state.revoked_records.add(previous["record_id"])
        client = state.clients.get(document["client_id"])
        if client and client.consent_event_endpoint and not fault("consent_event_not_pushed"):
            token = consent_docs.withdrawal_event(previous, new, issuer=issuer, client_id=client.client_id,
                                                  key=receipt_key, kid="double-es256")
            requests.post(client.consent_event_endpoint, data=token, timeout=10,
                          headers={"Content-Type": "application/secevent+jwt"})
        return jsonify({"record_id": new["record_id"]}), 200

    @app.post("/consent/export")
    def export() -> Any:
        current = session()
        if current is None:
            return jsonify({"error": "login_required"}), 401
        ledger = copy.deepcopy(state.ledgers.get(current["sub"], []))
        document = consent_docs.export(ledger, state.receipts.get(current["sub"], []), issuer=issuer,
                                       profile={"email": USERNAME, "name": "Bob Broken"})
        if fault("consent_export_chain_broken") and ledger:
            # An entry edited after it was chained: its hash no longer matches what follows it.
            document["ledger"][0]["language"] = "de" if ledger[0].get("language") != "de" else "en"
        return jsonify(document)

    @app.get("/logout")
    def logout() -> Response:
        target = request.args.get("post_logout_redirect_uri")
        hint = request.args.get("id_token_hint")
        client = None
        if hint:
            try:
                claims = jwt.decode(hint, key.public_key(), algorithms=["RS256"], issuer=issuer,
                                    options={"verify_aud": False, "verify_exp": False,
                                             "verify_signature": not fault("logout_hint_unverified")})
                client = state.clients.get(claims["aud"])
            except jwt.PyJWTError:
                return page("<p>invalid id_token_hint</p>")
        elif request.args.get("client_id"):
            client = state.clients.get(request.args["client_id"])
        state.sessions.pop(request.cookies.get("double_sid", ""), None)
        allowed = client is not None and target in client.post_logout_redirect_uris
        if client is not None and target and fault("logout_prefix_match"):
            allowed = any(target.startswith(u) for u in client.post_logout_redirect_uris)
        if hint and fault("logout_target_unchecked_with_hint"):
            allowed = True
        if target and (allowed or fault("logout_open_redirect")):
            query = {"state": request.args["state"]} if "state" in request.args else {}
            return redirect(target + (("?" + urlencode(query)) if query else ""), code=302)
        return page("<p>You are logged out.</p>")

    return app
