"""What a conformance test works with: the provider's metadata, its clients and the RP steps.

The helpers here are the relying party's side of the protocol, written directly from the
texts (OIDC Core §3.1, RFC 6749 §4.1, RFC 7636, RFC 7591) so that a verdict never depends
on a client library's leniency. Clients missing from op.toml are registered dynamically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn
from urllib.parse import urlencode

import jwt
import requests

from conformance_tests.checks import excerpt
from conformance_tests.config import ClientConfig, OPConfig
from conformance_tests.drivers.base import BrowserSession, Driver, Outcome
from conformance_tests.registry import fail, skip
from conformance_tests.throttle import Throttle
from conformance_tests.trace import Trace


def broken(message: str) -> NoReturn:
    """Fail the running test on a rule every test relies on (a valid code, token response
    or ID token): such a failure is a MUST violation even inside a recommended test."""
    fail(message, required=True)


DEFAULT_REDIRECT = "http://127.0.0.1:8976/porta-conformance/cb"
"""redirect_uri for dynamically registered clients. Both drivers capture the redirect before
any request is sent, so nothing needs to listen on this port (not one Chromium blocks)."""


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge), RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class AuthResult:
    """One authorization request and what came back."""

    client: ClientConfig
    request_params: dict[str, str]
    outcome: Outcome
    state: str
    nonce: str
    code_verifier: str | None

    @property
    def params(self) -> dict[str, str]:
        """The authorization response parameters."""
        return self.outcome.params

    @property
    def code(self) -> str:
        """The authorization code, failing the test when there is none."""
        code = self.outcome.params.get("code")
        if not code:
            broken(f"no authorization code: {self.outcome.describe()} {self._error()}")
        if self.outcome.params.get("state") != self.state:
            broken(f"state not returned unchanged (OIDC Core §3.1.2.5): got {self.outcome.params.get('state')!r}")
        return code

    def _error(self) -> str:
        p = self.outcome.params
        return f"error={p['error']!r} {p.get('error_description', '')}" if "error" in p else ""


@dataclass
class Context:
    """Per-run state shared by all tests (metadata and registered clients are cached)."""

    config: OPConfig
    driver: Driver
    http: requests.Session = field(default_factory=requests.Session)
    _metadata: dict[str, Any] | None = None
    _jwks: dict[str, Any] | None = None
    _registered: dict[str, ClientConfig] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _logged_in: BrowserSession | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    """Objects tests share within a run (e.g. a registered private_key_jwt client)."""
    trace: Trace = field(default_factory=Trace)
    """The HTTP exchanges of the test now running (redacted)."""
    throttle: Throttle | None = None

    def __post_init__(self) -> None:
        """Record every exchange, pause for throttling, and know the secrets to redact."""
        self.throttle = Throttle(self.config.throttle_wait_s)
        self.http.hooks["response"].append(self.trace.hook)
        self.trace.add_secret(self.config.password)
        for client in (self.config.client, self.config.public_client):
            if client is not None:
                self.trace.add_secret(client.client_secret)
        observe = getattr(self.driver, "observe", None)
        if observe is not None:
            observe(self.trace, self.throttle)

    def begin_test(self) -> None:
        """A new test: an empty trace and the whole throttling budget."""
        self.trace.start()
        assert self.throttle is not None
        self.throttle.start()

    # -- provider metadata -------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """The discovery document, OIDC Discovery §4 (fetched once)."""
        if self._metadata is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = self.get(url)
            if response.status_code != 200:
                broken(f"GET {url} returned HTTP {response.status_code}")
            try:
                self._metadata = response.json()
            except ValueError:
                broken(f"GET {url} did not return JSON")
        return self._metadata

    def endpoint(self, name: str) -> str:
        """An endpoint URL from discovery, skipping the test when it is not advertised."""
        url = self.metadata.get(name)
        if not url:
            skip(f"the provider does not advertise {name}")
        return str(url)

    def supports(self, key: str, value: str) -> bool:
        """True when discovery lists ``value`` under ``key``."""
        return value in (self.metadata.get(key) or [])

    @property
    def jwks(self) -> dict[str, Any]:
        """The provider's JWK Set (RFC 7517 §5), fetched once."""
        if self._jwks is None:
            response = self.get(self.endpoint("jwks_uri"))
            if response.status_code != 200:
                broken(f"jwks_uri returned HTTP {response.status_code}")
            self._jwks = response.json()
        return self._jwks

    # -- HTTP ---------------------------------------------------------------------------
    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET without following redirects."""
        kwargs.setdefault("allow_redirects", False)
        assert self.throttle is not None
        return self.throttle.send(self.http, "GET", url, timeout=self.config.http_timeout_s, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        """POST without following redirects."""
        kwargs.setdefault("allow_redirects", False)
        assert self.throttle is not None
        return self.throttle.send(self.http, "POST", url, timeout=self.config.http_timeout_s, **kwargs)

    # -- clients ------------------------------------------------------------------------
    @property
    def client(self) -> ClientConfig:
        """The confidential client from op.toml, or one registered dynamically."""
        if self.config.client is not None:
            return self.config.client
        return self.registered_client("confidential", {})

    @property
    def public_client(self) -> ClientConfig:
        """The public client from op.toml, or one registered dynamically."""
        if self.config.public_client is not None:
            return self.config.public_client
        return self.registered_client("public", {"token_endpoint_auth_method": "none"})

    def registered_client(self, key: str, metadata: dict[str, Any]) -> ClientConfig:
        """A client registered once per run under ``key`` (skips without registration)."""
        with self._lock:
            if key not in self._registered:
                self._registered[key] = self.register_client(metadata)
            return self._registered[key]

    def register(self, metadata: dict[str, Any]) -> requests.Response:
        """POST client metadata to the registration endpoint (RFC 7591 §3.1)."""
        return self.post(self.endpoint("registration_endpoint"), json=metadata)

    def register_client(self, metadata: dict[str, Any]) -> ClientConfig:
        """Register a client (defaults: code flow, our unused redirect_uri) and describe it."""
        body = {
            "redirect_uris": [DEFAULT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "porta-conformance",
            "token_endpoint_auth_method": "client_secret_basic",
            **metadata,
        }
        response = self.register(body)
        if response.status_code != 201:
            broken(f"dynamic registration failed (RFC 7591 §3.2.1 expects 201): {excerpt(response)}")
        client = self.client_from_registration(response.json(), body)
        self.trace.add_secret(client.client_secret)
        return client

    @staticmethod
    def client_from_registration(info: dict[str, Any], body: dict[str, Any]) -> ClientConfig:
        """The client a registration response describes (RFC 7591 §3.2.1), ``body`` as sent."""
        return ClientConfig(
            client_id=info["client_id"],
            client_secret=info.get("client_secret"),
            redirect_uri=body["redirect_uris"][0],
            token_endpoint_auth_method=info.get("token_endpoint_auth_method",
                                                body.get("token_endpoint_auth_method", "client_secret_basic")),
            post_logout_redirect_uri=(body.get("post_logout_redirect_uris") or [None])[0],
        )

    # -- authorization ------------------------------------------------------------------
    def browser(self) -> BrowserSession:
        """A fresh browser session (no cookies)."""
        return self.driver.new_session()

    def logged_in_browser(self) -> BrowserSession:
        """A browser session shared by tests that only need someone logged in."""
        with self._lock:
            if self._logged_in is None:
                self._logged_in = self.driver.new_session()
            return self._logged_in

    def authorization_url(self, params: dict[str, str]) -> str:
        """The authorization endpoint URL carrying ``params`` (RFC 6749 §4.1.1)."""
        endpoint = self.endpoint("authorization_endpoint")
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    def authorize(
        self,
        client: ClientConfig | None = None,
        *,
        scope: str = "openid",
        pkce: bool = True,
        session: BrowserSession | None = None,
        interact: bool = True,
        extra: dict[str, str] | None = None,
        drop: Collection[str] = (),
        uncheck: Collection[str] = (),
        http_method: str = "GET",
    ) -> AuthResult:
        """Send the person through an authorization code request and capture the response.

        ``extra`` adds or overrides parameters, ``drop`` removes some; PKCE S256 is used
        unless ``pkce`` is False. Uses the shared logged-in browser unless ``session`` is set.
        ``http_method="POST"`` sends the request as a form POST (OIDC Core §3.1.2.1).
        """
        client = client or self.client
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
        }
        verifier = None
        if pkce:
            verifier, challenge = pkce_pair()
            params["code_challenge"] = challenge
            params["code_challenge_method"] = "S256"
        params.update(extra or {})
        for name in drop:
            params.pop(name, None)
        browser = session or self.logged_in_browser()
        stop_at = [client.redirect_uri, params["redirect_uri"]]
        kwargs: dict[str, Any] = {"interact": interact}
        if uncheck:
            kwargs["uncheck"] = uncheck
        if http_method == "POST":
            kwargs["post_data"] = params
            outcome = browser.open(self.endpoint("authorization_endpoint"), stop_at, **kwargs)
        else:
            outcome = browser.open(self.authorization_url(params), stop_at, **kwargs)
        return AuthResult(client, params, outcome, state, nonce, verifier)

    # -- token endpoint -----------------------------------------------------------------
    def token_request(
        self, client: ClientConfig, data: dict[str, str], *, auth: str | None = None
    ) -> requests.Response:
        """POST to the token endpoint authenticating as ``client`` (RFC 6749 §2.3.1)."""
        data = dict(data)
        method = auth or client.token_endpoint_auth_method
        kwargs: dict[str, Any] = {}
        if method == "client_secret_basic":
            kwargs["auth"] = (_form_encode(client.client_id), _form_encode(client.client_secret or ""))
        elif method == "client_secret_post":
            data["client_id"] = client.client_id
            data["client_secret"] = client.client_secret or ""
        else:
            data.setdefault("client_id", client.client_id)
        return self.post(self.endpoint("token_endpoint"), data=data, **kwargs)

    def redeem(self, result: AuthResult, *, verifier: str | None = None,
               client: ClientConfig | None = None) -> requests.Response:
        """Exchange the result's code (RFC 6749 §4.1.3), with its PKCE verifier by default."""
        data = {"grant_type": "authorization_code", "code": result.code,
                "redirect_uri": result.request_params["redirect_uri"]}
        code_verifier = verifier if verifier is not None else result.code_verifier
        if code_verifier:
            data["code_verifier"] = code_verifier
        return self.token_request(client or result.client, data)

    def tokens(self, result: AuthResult) -> dict[str, Any]:
        """Redeem the code and return the token response, failing on any error."""
        response = self.redeem(result)
        if response.status_code != 200:
            broken(f"token request failed: {excerpt(response)}")
        return response.json()

    def refresh(self, client: ClientConfig, refresh_token: str, scope: str | None = None) -> requests.Response:
        """A refresh request (RFC 6749 §6), with ``scope`` only when given."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope is not None:
            data["scope"] = scope
        return self.token_request(client, data)

    def offline_tokens(self, client: ClientConfig | None = None) -> tuple[AuthResult, dict[str, Any]]:
        """Tokens with a refresh token (offline_access + prompt=consent, OIDC Core §11).

        Skips when the provider does not offer the refresh_token grant; fails when it
        advertises it but issues no refresh token for offline_access.
        """
        if "grant_types_supported" in self.metadata and not self.supports("grant_types_supported", "refresh_token"):
            skip("refresh_token is not in grant_types_supported")
        result, tokens = self.login_and_tokens(client, scope="openid offline_access", extra={"prompt": "consent"})
        if "refresh_token" not in tokens:
            skip(f"no refresh token issued to client {result.client.client_id} for scope offline_access")
        return result, tokens

    def second_client(self) -> ClientConfig:
        """Another confidential client, registered dynamically (skips without registration)."""
        if not self.metadata.get("registration_endpoint"):
            skip("needs a second confidential client: the provider offers no dynamic registration")
        return self.registered_client("second", {})

    def client_request(self, endpoint: str, client: ClientConfig | None, data: dict[str, str]) -> requests.Response:
        """POST ``data`` to an endpoint that authenticates clients like the token endpoint
        (RFC 7009 §2.1, RFC 7662 §2.1); ``client`` None sends no credentials at all."""
        url = self.endpoint(endpoint)
        if client is None:
            return self.post(url, data=data)
        kwargs: dict[str, Any] = {}
        data = dict(data)
        if client.token_endpoint_auth_method == "client_secret_basic":
            kwargs["auth"] = (_form_encode(client.client_id), _form_encode(client.client_secret or ""))
        elif client.token_endpoint_auth_method == "client_secret_post":
            data.update(client_id=client.client_id, client_secret=client.client_secret or "")
        else:
            data["client_id"] = client.client_id
        return self.post(url, data=data, **kwargs)

    def revoke(self, client: ClientConfig | None, token: str, hint: str | None = None) -> requests.Response:
        """A revocation request (RFC 7009 §2.1)."""
        data = {"token": token, **({"token_type_hint": hint} if hint else {})}
        return self.client_request("revocation_endpoint", client, data)

    def introspect(self, client: ClientConfig | None, token: str) -> requests.Response:
        """An introspection request (RFC 7662 §2.1), authenticated as ``client``."""
        return self.client_request("introspection_endpoint", client, {"token": token})

    def userinfo_status(self, access_token: str) -> requests.Response:
        """GET UserInfo with the token in the Authorization header (RFC 6750 §2.1)."""
        return self.get(self.endpoint("userinfo_endpoint"), headers={"Authorization": f"Bearer {access_token}"})

    def login_and_tokens(self, client: ClientConfig | None = None, **kwargs: Any) -> tuple[AuthResult, dict[str, Any]]:
        """Authorize, redeem the code, return both."""
        result = self.authorize(client, **kwargs)
        return result, self.tokens(result)

    # -- ID token -----------------------------------------------------------------------
    def id_token_claims(self, id_token: str, client: ClientConfig, nonce: str | None = None, *,
                        access_token: str | None = None, code: str | None = None) -> dict[str, Any]:
        """Validate an ID token per OIDC Core §2 and §3.1.3.7 and return its claims.

        Checks the signature with the provider's JWKS (asymmetric algorithms only), then each
        claim itself so that a failure names the expected and the received value: iss exact,
        aud containing the client, azp, exp after iat with no leeway (two claims of one token
        share one clock), exp not passed and iat near this machine's clock (within
        CLOCK_SKEW_S and IAT_WINDOW_S), nonce when given, and at_hash / c_hash when the
        access token / code are given and the claim is present (OIDC Core §3.3.2.11).
        """
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            broken(f"ID token is not a JWS: {exc}")
        alg = header.get("alg")
        if alg in (None, "none") or str(alg).startswith("HS"):
            broken(f"ID token alg {alg!r}: OIDC Core §3.1.3.7 step 6-7 expects the provider's key")
        key = self.signing_key(header)
        try:
            claims = jwt.decode(id_token, key=key, algorithms=[alg], options={
                "verify_aud": False, "verify_iss": False, "verify_exp": False, "verify_iat": False,
                "verify_nbf": False})
        except jwt.InvalidSignatureError:
            broken(f"ID token signature does not verify with the JWKS key kid={header.get('kid')!r} "
                 f"alg={alg!r} (OIDC Core §3.1.3.7 step 6)")
        except jwt.PyJWTError as exc:
            broken(f"ID token rejected (OIDC Core §3.1.3.7): {describe_jwt_error(exc, id_token)}")
        check_id_token_claims(claims, issuer=self.metadata["issuer"], client_id=client.client_id,
                              nonce=nonce, now=time.time())
        for name, value in (("at_hash", access_token), ("c_hash", code)):
            if value is not None and name in claims:
                expected = token_hash(value, str(alg))
                if claims[name] != expected:
                    broken(f"ID token {name} {claims[name]!r} is not the left half of the {alg} hash of "
                         f"the {'access token' if name == 'at_hash' else 'code'}: expected {expected!r} "
                         "(OIDC Core §3.3.2.11)")
        return claims

    def signing_key(self, header: dict[str, Any]) -> Any:
        """The JWKS key matching a JWS header (by kid, else the only key fit for the alg)."""
        keys = [k for k in self.jwks.get("keys", []) if k.get("use", "sig") == "sig"]
        kid = header.get("kid")
        candidates = [k for k in keys if k.get("kid") == kid] if kid else keys
        candidates = [k for k in candidates if k.get("alg") in (None, header.get("alg"))]
        if len(candidates) != 1:
            broken(f"cannot pick one JWKS key for kid={kid!r} alg={header.get('alg')!r} "
                 f"({len(candidates)} candidates)")
        try:
            return jwt.PyJWK.from_dict(candidates[0], algorithm=header.get("alg")).key
        except jwt.PyJWTError as exc:
            broken(f"JWKS key {kid!r} is unusable: {exc}")

    # -- misc -----------------------------------------------------------------------------
    def with_redirect(self, client: ClientConfig, redirect_uri: str) -> ClientConfig:
        """The same client pretending to use another redirect_uri."""
        return replace(client, redirect_uri=redirect_uri)

    def close(self) -> None:
        """Close browser sessions and the driver."""
        if self._logged_in is not None:
            self._logged_in.close()
        self.driver.close()
        self.http.close()


def _form_encode(value: str) -> str:
    """RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic auth."""
    from urllib.parse import quote

    return quote(value, safe="")


def b64url_json(segment: str) -> dict[str, Any]:
    """Decode one base64url JSON segment of a JWT without verifying it."""
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def describe_jwt_error(exc: jwt.PyJWTError, token: str, *, audience: str | None = None,
                       issuer: str | None = None) -> str:
    """pyjwt's message with the values it leaves out ("Audience doesn't match" names neither)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"aud {claims.get('aud')!r} does not contain the expected audience {audience!r}"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"iss {claims.get('iss')!r} is not the expected issuer {issuer!r}"
    if isinstance(exc, jwt.ExpiredSignatureError):
        return f"expired: exp {claims.get('exp')!r}, this machine's clock {time.time():.0f}"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return (f"not yet valid: iat {claims.get('iat')!r} nbf {claims.get('nbf')!r}, this machine's clock "
                f"{time.time():.0f}")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"lacks the claim {exc.claim!r} (claims present: {sorted(claims)})"
    if isinstance(exc, jwt.InvalidSignatureError):
        return f"signature does not verify with the JWKS key for kid={header.get('kid')!r} alg={header.get('alg')!r}"
    return f"{type(exc).__name__}: {exc}"


CLOCK_SKEW_S = 30
"""Leeway between the provider's clock and this machine's, for exp against now."""

IAT_WINDOW_S = 300
"""How far an ID token's iat may be from this machine's clock (OIDC Core §3.1.3.7 step 10
leaves the range to the client; five minutes catches a stale or future-dated token)."""


def check_id_token_claims(claims: dict[str, Any], *, issuer: str, client_id: str,
                          nonce: str | None, now: float) -> None:
    """The claim rules of OIDC Core §2 and §3.1.3.7 steps 2-5 and 9-11, values named on failure."""
    missing = [name for name in ("iss", "sub", "aud", "exp", "iat") if name not in claims]
    if missing:
        broken(f"ID token lacks the REQUIRED claims {missing} (OIDC Core §2); it has {sorted(claims)}")
    if claims["iss"] != issuer:
        broken(f"ID token iss {claims['iss']!r} is not the issuer {issuer!r} (OIDC Core §3.1.3.7 step 2)")
    aud = claims["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        broken(f"ID token aud {aud!r} does not contain the client_id {client_id!r} (OIDC Core §3.1.3.7 step 3)")
    if "azp" in claims and claims["azp"] != client_id:
        broken(f"ID token azp {claims['azp']!r} is not the client_id {client_id!r} the token was issued to "
             "(OIDC Core §2: azp MUST be that party's client_id)")
    if len(audiences) > 1 and "azp" not in claims:
        broken(f"ID token has several audiences {audiences} but no azp (OIDC Core §3.1.3.7 steps 4-5)")
    exp, iat = claims["exp"], claims["iat"]
    for name, value in (("exp", exp), ("iat", iat)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            broken(f"ID token {name} {value!r} is not a NumericDate (a JSON number, OIDC Core §2)")
    if exp <= iat:
        broken(f"ID token exp {exp} is not after its iat {iat}: it expires as it is issued (OIDC Core §2; "
             "no clock skew applies between two claims of the same token)")
    if exp <= now - CLOCK_SKEW_S:
        broken(f"ID token expired: exp {exp} is {now - exp:.0f} s before this machine's clock {now:.0f} "
             f"(OIDC Core §3.1.3.7 step 9, {CLOCK_SKEW_S} s leeway)")
    if abs(iat - now) > IAT_WINDOW_S:
        broken(f"ID token iat {iat} is {iat - now:+.0f} s from this machine's clock {now:.0f}; "
             f"more than {IAT_WINDOW_S} s (OIDC Core §3.1.3.7 step 10)")
    if nonce is not None and claims.get("nonce") != nonce:
        broken(f"ID token nonce {claims.get('nonce')!r} is not the request's nonce {nonce!r} "
             "(OIDC Core §3.1.3.7 step 11)")


_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def token_hash(value: str, alg: str) -> str:
    """at_hash / c_hash: base64url of the left half of the alg's hash of the ASCII value
    (OIDC Core §3.3.2.11; EdDSA uses SHA-512)."""
    digest = _HASHES["512"] if alg == "EdDSA" else _HASHES.get(alg[-3:])
    if digest is None:
        broken(f"cannot compute a token hash for alg {alg!r}")
    raw = digest(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw[: len(raw) // 2]).rstrip(b"=").decode("ascii")


def now() -> int:
    """Seconds since the epoch, for JWT claims."""
    return int(time.time())
