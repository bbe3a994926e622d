"""``Client``: one relying party talking to one OpenID provider, over ``requests``.

The client is thread-safe and keeps no global state: discovery metadata and the JWKS are
cached per instance (each behind a lock), and every per-login value (``state``, ``nonce``,
``code_verifier``) travels in the :class:`AuthorizationRequest` the caller keeps.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from client_sdk.errors import (
    AuthorizationResponseError,
    ConsentReceiptError,
    DiscoveryError,
    IDTokenError,
    OAuthError,
    ResponseValidationError,
)
from client_sdk.id_token import (
    IDTokenExpectations,
    allowed_id_token_algs,
    check_refreshed_id_token,
    validate_id_token,
)
from client_sdk.jwks import ASYMMETRIC_ALGS, JWKSCache, KeyNotFoundError, verify_jws

#: Media type of Porta consent receipts (``typ`` JWS header, RFC 7515 §4.1.9).
CONSENT_RECEIPT_TYP = "consent-receipt+jwt"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def _pkce_pair() -> tuple[str, str]:
    """A fresh ``code_verifier`` and its S256 ``code_challenge`` (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of the unreserved set
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


@dataclass
class AuthorizationRequest:
    """One authentication request in flight; keep it (e.g. in the session) until the callback.

    Attributes:
        url: where to send the browser.
        state: CSRF binding of the response to this browser (RFC 6749 §10.12).
        nonce: replay protection for the ID token (OIDC Core §3.1.2.1).
        code_verifier: the PKCE secret (RFC 7636 §4.1); never sent to the browser.
        redirect_uri: the redirect_uri used; the token request repeats it (RFC 6749 §4.1.3).
        scope: the scope requested.
        max_age: the ``max_age`` requested, if any (checked against ``auth_time``).
        created_at: UNIX time the request was made.
    """

    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    scope: str
    max_age: int | None = None
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for a Flask session or any other store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthorizationRequest:
        """Rebuild a request saved with :meth:`to_dict`."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class TokenSet:
    """Tokens from a token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).

    Attributes:
        access_token: the access token.
        token_type: normally ``Bearer``.
        expires_at: UNIX time the access token expires, when the provider said.
        refresh_token: present only when the provider issued one.
        id_token: the raw ID token, if any.
        id_token_claims: the validated ID token claims (empty without an ID token).
        scope: the granted scope (may be narrower than requested, RFC 6749 §3.3).
        raw: the whole token response, for provider-specific members.
    """

    access_token: str
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def expires_in(self) -> int | None:
        """Seconds until the access token expires (negative once expired), if known."""
        return None if self.expires_at is None else int(self.expires_at - time.time())

    @property
    def sub(self) -> str | None:
        """The person's subject identifier from the ID token."""
        return self.id_token_claims.get("sub")

    @property
    def consent_receipt(self) -> str | None:
        """The consent receipt JWT the provider returned with the tokens, if any.

        Porta adds it to the token response as ``consent_receipt`` (DESIGN §4); verify it
        with :meth:`Client.verify_consent_receipt`.  Other providers send none.
        """
        receipt = self.raw.get("consent_receipt")
        return receipt if isinstance(receipt, str) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        """Rebuild a token set saved with :meth:`to_dict`."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _load_private_key(private_key: Any) -> tuple[Any, str, str]:
    """Turn a JWK dict, PEM or ``cryptography`` key into ``(key, alg, kid)``."""
    if isinstance(private_key, Mapping):
        jwk = dict(private_key)
        pyjwk = jwt.PyJWK(jwk)
        key = pyjwk.key
        alg = jwk.get("alg") or pyjwk.algorithm_name
    else:
        if isinstance(private_key, str | bytes):
            data = private_key.encode() if isinstance(private_key, str) else private_key
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = private_key
        jwk = None
        alg = ""
    if isinstance(key, rsa.RSAPrivateKey):
        alg = alg or "RS256"
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        alg = alg or {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[
            key.curve.name
        ]
        public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = alg or "EdDSA"
        public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    else:
        raise TypeError("private_key must be an RSA, EC or Ed25519 private key (JWK, PEM or object)")
    kid = (jwk or {}).get("kid") or _thumbprint(public_jwk)
    return key, alg, kid


def _thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """JWK thumbprint (RFC 7638 §3): SHA-256 of the required members in lexical order."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    members = {k: public_jwk[k] for k in required[public_jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _single_values(params: Mapping[str, Any]) -> dict[str, str]:
    """Flatten response parameters; a repeated parameter is an error (RFC 6749 §3.1)."""
    flat: dict[str, str] = {}
    getlist = getattr(params, "getlist", None)
    for name in params:
        values = getlist(name) if getlist else params[name]
        if isinstance(values, list | tuple):
            if len(values) != 1:
                raise AuthorizationResponseError(
                    f"authorization response repeats the parameter {name!r} (RFC 6749 §3.1)"
                )
            values = values[0]
        flat[name] = str(values)
    return flat


class Client:
    """A relying party registered at one OpenID provider.

    Build it with :meth:`from_issuer` (which runs discovery) or :meth:`register` (dynamic
    registration).  Example::

        client = Client.from_issuer("https://id.example", "my-client-id", "my-secret",
                                    redirect_uri="https://shop.example/callback")
        request = client.authorization_url(scope="openid profile email")
        # ... send the browser to request.url, keep `request` ...
        tokens = client.exchange_code(callback_url, request)
        print(tokens.id_token_claims["sub"])

    Args:
        issuer: the provider's issuer identifier (must equal the metadata's ``issuer``).
        client_id: this RP's client_id.
        client_secret: the secret for ``client_secret_basic``/``_post`` (or HS* ID tokens).
        redirect_uri: default redirect_uri for :meth:`authorization_url`.
        private_key: signing key for ``private_key_jwt`` (JWK dict, PEM or key object).
        session: ``requests.Session`` to use (one is created otherwise).
        token_endpoint_auth_method: how to authenticate (RFC 7591 §2); chosen from the
            credentials and the provider's metadata when omitted.
        id_token_signed_response_alg: the ID token algorithm this client registered;
            when omitted, any asymmetric algorithm the provider advertises.
        metadata_ttl: seconds discovery metadata is cached.
        jwks_min_refetch_interval: minimum seconds between JWKS fetches on unknown ``kid``.
        leeway: clock skew tolerated in token time checks, seconds.
        max_iat_age: how old an ID token's ``iat`` may be, seconds.
        trusted_audiences: extra ID token audiences to accept besides ``client_id``.
        use_par: ``None`` uses PAR (RFC 9126) when the provider requires it, ``True``
            whenever the provider offers it, ``False`` never.
        timeout: HTTP timeout in seconds.
        clock: monotonic time source for the caches (tests inject their own).
        metadata: provider metadata to use instead of discovery (RFC 8414 §3 members), for
            providers without a discovery document; its ``issuer`` must equal ``issuer``.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        redirect_uri: str | None = None,
        private_key: Any = None,
        session: requests.Session | None = None,
        token_endpoint_auth_method: str | None = None,
        id_token_signed_response_alg: str | None = None,
        metadata_ttl: float = 3600.0,
        jwks_min_refetch_interval: float = 60.0,
        leeway: int = 60,
        max_iat_age: int = 600,
        trusted_audiences: Iterable[str] = (),
        use_par: bool | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if token_endpoint_auth_method is not None and token_endpoint_auth_method not in AUTH_METHODS:
            raise ValueError(
                f"token_endpoint_auth_method must be one of {AUTH_METHODS}, "
                f"not {token_endpoint_auth_method!r}"
            )
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.session = session or requests.Session()
        self.id_token_signed_response_alg = id_token_signed_response_alg
        self.metadata_ttl = metadata_ttl
        self.leeway = leeway
        self.max_iat_age = max_iat_age
        self.trusted_audiences = frozenset(trusted_audiences)
        self.use_par = use_par
        self.timeout = timeout
        self._clock = clock
        self._private_key = _load_private_key(private_key) if private_key is not None else None
        self._explicit_auth_method = token_endpoint_auth_method
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._static_metadata = metadata is not None
        if metadata is not None:
            if metadata.get("issuer") != issuer:
                raise DiscoveryError(
                    f"the given metadata names issuer {metadata.get('issuer')!r}, not {issuer!r}"
                )
            self._metadata = dict(metadata)
        self._metadata_lock = threading.Lock()
        self.jwks = JWKSCache(
            self.session,
            lambda: self._endpoint("jwks_uri"),
            min_refetch_interval=jwks_min_refetch_interval,
            clock=clock,
            timeout=timeout,
        )
        #: the registration response when the client came from :meth:`register`
        self.registration: dict[str, Any] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        redirect_uri: str | None = None,
        private_key: Any = None,
        session: requests.Session | None = None,
        **options: Any,
    ) -> Client:
        """Create a client and run discovery now, so a wrong issuer fails early.

        ``options`` are the keyword arguments of :class:`Client`.  Raises
        :class:`~client_sdk.errors.DiscoveryError`.
        """
        client = cls(
            issuer,
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            private_key=private_key,
            session=session,
            **options,
        )
        client.metadata()
        return client

    @classmethod
    def register(
        cls,
        issuer: str,
        *,
        redirect_uris: list[str],
        session: requests.Session | None = None,
        initial_access_token: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        **metadata: Any,
    ) -> Client:
        """Register a new client by Dynamic Client Registration (RFC 7591 §3) and return it.

        ``metadata`` are client metadata (RFC 7591 §2, OIDC Registration §2), e.g.
        ``client_name="Shop"``, ``token_endpoint_auth_method="none"``.
        ``client_options`` are keyword arguments for :class:`Client`.
        """
        client = cls(issuer, "", session=session, **dict(client_options or {}))
        endpoint = client._endpoint("registration_endpoint")
        body = {"redirect_uris": list(redirect_uris), **metadata}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if initial_access_token:
            headers["Authorization"] = f"Bearer {initial_access_token}"
        response = client._http("POST", endpoint, "client registration", json=body, headers=headers)
        document = client._json(response, "client registration", ok=(200, 201))
        if not isinstance(document.get("client_id"), str):
            raise ResponseValidationError("registration response has no client_id (RFC 7591 §3.2.1)")
        client.client_id = document["client_id"]
        client.client_secret = document.get("client_secret")
        client.redirect_uri = redirect_uris[0] if redirect_uris else None
        method = document.get("token_endpoint_auth_method") or metadata.get(
            "token_endpoint_auth_method"
        )
        if method in AUTH_METHODS:
            client._explicit_auth_method = method
        alg = document.get("id_token_signed_response_alg") or metadata.get(
            "id_token_signed_response_alg"
        )
        if alg:
            client.id_token_signed_response_alg = alg
        client.registration = document
        return client

    # ------------------------------------------------------------------ discovery
    def metadata(self, *, refresh: bool = False) -> dict[str, Any]:
        """The provider's metadata (OIDC Discovery 1.0 §4, RFC 8414 §3), cached for ``metadata_ttl``.

        Tries ``/.well-known/openid-configuration`` and then RFC 8414's
        ``/.well-known/oauth-authorization-server``.  The document's ``issuer`` must be exactly
        the configured issuer (Discovery §4.3, RFC 8414 §3.3).
        """
        with self._metadata_lock:
            now = self._clock()
            if self._static_metadata and self._metadata is not None:
                return self._metadata
            if (
                refresh
                or self._metadata is None
                or now - self._metadata_at >= self.metadata_ttl
            ):
                self._metadata = self._discover()
                self._metadata_at = now
            return self._metadata

    def _discovery_urls(self) -> list[str]:
        parts = urlsplit(self.issuer)
        path = parts.path.rstrip("/")
        oidc = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        rfc8414 = urlunsplit(
            (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")
        )
        return [oidc, rfc8414]

    def _discover(self) -> dict[str, Any]:
        failures = []
        for url in self._discovery_urls():
            try:
                response = self.session.get(
                    url, timeout=self.timeout, headers={"Accept": "application/json"}
                )
            except requests.RequestException as exc:
                failures.append(f"{url}: {exc}")
                continue
            if response.status_code != 200:
                failures.append(f"{url}: HTTP {response.status_code}")
                continue
            try:
                document = response.json()
            except ValueError:
                failures.append(f"{url}: not JSON")
                continue
            if not isinstance(document, dict):
                failures.append(f"{url}: not a JSON object")
                continue
            if document.get("issuer") != self.issuer:
                raise DiscoveryError(
                    f"metadata at {url} names issuer {document.get('issuer')!r}, but this "
                    f"client was configured for {self.issuer!r}; they must be identical "
                    "(OIDC Discovery §4.3) — check the issuer URL, including any trailing slash"
                )
            return document
        raise DiscoveryError(
            f"could not discover provider metadata for {self.issuer!r}: " + "; ".join(failures)
        )

    def _endpoint(self, name: str) -> str:
        value = self.metadata().get(name)
        if not isinstance(value, str) or not value:
            raise DiscoveryError(f"the provider at {self.issuer} does not advertise {name!r}")
        return value

    # ------------------------------------------------------------------ HTTP helpers
    def _http(self, method: str, url: str, context: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise OAuthError(
                "request_failed", f"could not reach {url}: {exc}", context=context
            ) from exc

    def _json(
        self, response: requests.Response, context: str, ok: tuple[int, ...] = (200,)
    ) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code not in ok:
            raise OAuthError.from_response_body(
                body, status_code=response.status_code, context=context
            )
        if not isinstance(body, dict):
            raise ResponseValidationError(f"{context}: the provider's response is not a JSON object")
        return body

    # ------------------------------------------------------------------ client authentication
    @property
    def token_endpoint_auth_method(self) -> str:
        """The client authentication method in use (OIDC Core §9, RFC 7591 §2)."""
        if self._explicit_auth_method:
            return self._explicit_auth_method
        if self._private_key is not None:
            return "private_key_jwt"
        if not self.client_secret:
            return "none"
        supported = (self._metadata or {}).get("token_endpoint_auth_methods_supported") or [
            "client_secret_basic"
        ]
        if "client_secret_basic" in supported:
            return "client_secret_basic"
        if "client_secret_post" in supported:
            return "client_secret_post"
        return "client_secret_basic"

    def _authenticate(
        self, data: dict[str, str], headers: dict[str, str], audience: str
    ) -> None:
        """Add client authentication to a back-channel request (RFC 6749 §2.3, OIDC Core §9)."""
        method = self.token_endpoint_auth_method
        if method == "client_secret_basic":
            if not self.client_secret:
                raise ValueError("client_secret_basic needs a client_secret")
            # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif method == "client_secret_post":
            if not self.client_secret:
                raise ValueError("client_secret_post needs a client_secret")
            data["client_id"] = self.client_id
            data["client_secret"] = self.client_secret
        elif method == "private_key_jwt":
            data["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            data["client_assertion"] = self.client_assertion(audience)
        else:
            data["client_id"] = self.client_id

    def client_assertion(self, audience: str | None = None) -> str:
        """A ``private_key_jwt`` assertion (OIDC Core §9, RFC 7523 §3), valid for 60 seconds.

        ``audience`` defaults to the token endpoint, as OIDC Core §9 says.
        """
        if self._private_key is None:
            raise ValueError("private_key_jwt needs the client's private_key")
        key, alg, kid = self._private_key
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience or self._endpoint("token_endpoint"),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 60,
        }
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def public_jwks(self) -> dict[str, Any]:
        """The public half of ``private_key`` as a JWKS, to register as ``jwks`` (RFC 7591 §2)."""
        if self._private_key is None:
            raise ValueError("this client has no private_key")
        key, alg, kid = self._private_key
        algorithm = jwt.get_algorithm_by_name(alg)
        public = json.loads(algorithm.to_jwk(key.public_key()))
        public.update({"kid": kid, "alg": alg, "use": "sig"})
        return {"keys": [public]}

    def _back_channel(
        self, endpoint_name: str, data: dict[str, str], context: str
    ) -> requests.Response:
        url = self._endpoint(endpoint_name)
        headers = {"Accept": "application/json"}
        self._authenticate(data, headers, self._endpoint("token_endpoint"))
        return self._http("POST", url, context, data=data, headers=headers)

    # ------------------------------------------------------------------ authorization
    def authorization_url(
        self,
        scope: str = "openid",
        *,
        redirect_uri: str | None = None,
        **params: Any,
    ) -> AuthorizationRequest:
        """Build an authentication request (OIDC Core §3.1.2.1) with PKCE S256 (RFC 7636).

        Extra ``params`` are added as given (``prompt``, ``login_hint``, ``max_age``,
        ``response_mode``, ``acr_values``, ``ui_locales`` …); a ``claims`` dict is sent as
        JSON (OIDC Core §5.5).  Pushed Authorization Requests (RFC 9126) are used when the
        provider requires them (``require_pushed_authorization_requests``) or ``use_par``
        is ``True``.
        """
        redirect_uri = redirect_uri or self.redirect_uri
        if not redirect_uri:
            raise ValueError("no redirect_uri: pass one here or to the Client")
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier, challenge = _pkce_pair()
        query: dict[str, str] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        reserved = set(query) - {"scope"}
        overridden = sorted(reserved.intersection(params))
        if overridden:
            raise ValueError(
                f"{overridden} are set by the client itself (fresh state, nonce and PKCE for "
                "every request); pass redirect_uri as its own argument"
            )
        for name, value in params.items():
            if value is None:
                continue
            query[name] = json.dumps(value) if isinstance(value, dict) else str(value)
        max_age = int(params["max_age"]) if params.get("max_age") is not None else None
        endpoint = self._endpoint("authorization_endpoint")
        if self._should_push():
            request_uri = self._push(query)
            query = {"client_id": self.client_id, "request_uri": request_uri}
        separator = "&" if urlsplit(endpoint).query else "?"
        return AuthorizationRequest(
            url=endpoint + separator + urlencode(query),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            scope=scope,
            max_age=max_age,
        )

    def _should_push(self) -> bool:
        metadata = self.metadata()
        offered = bool(metadata.get("pushed_authorization_request_endpoint"))
        required = bool(metadata.get("require_pushed_authorization_requests"))
        if required and not offered:
            raise DiscoveryError(
                "the provider requires pushed authorization requests but advertises no "
                "pushed_authorization_request_endpoint (RFC 9126 §5)"
            )
        if required and self.use_par is False:
            raise ValueError("the provider requires PAR (RFC 9126) but use_par=False")
        return required or (self.use_par is True and offered)

    def _push(self, query: dict[str, str]) -> str:
        """Push the request to the PAR endpoint and return its ``request_uri`` (RFC 9126 §2)."""
        data = dict(query)
        response = self._back_channel(
            "pushed_authorization_request_endpoint", data, "pushed authorization request"
        )
        body = self._json(response, "pushed authorization request", ok=(200, 201))
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str):
            raise ResponseValidationError("PAR response has no request_uri (RFC 9126 §2.2)")
        return request_uri

    # ------------------------------------------------------------------ callback + token
    def parse_authorization_response(
        self, callback_url_or_params: str | Mapping[str, Any], request: AuthorizationRequest
    ) -> str:
        """Check an authorization response and return its ``code``.

        Checks, in this order: ``state`` (RFC 6749 §10.12), ``iss`` (RFC 9207 §2.4), then
        the ``error`` response (RFC 6749 §4.1.2.1, raised as :class:`OAuthError`).
        """
        if isinstance(callback_url_or_params, str):
            parts = urlsplit(callback_url_or_params)
            params = _single_values(parse_qs(parts.query, keep_blank_values=True))
            if not params and parts.fragment:
                params = _single_values(parse_qs(parts.fragment, keep_blank_values=True))
        else:
            params = _single_values(callback_url_or_params)
        state = params.get("state")
        if state is None or not secrets.compare_digest(state, request.state):
            raise AuthorizationResponseError(
                "the response's state does not match this browser's authorization request "
                "(RFC 6749 §10.12): it may be forged, replayed, or from another tab"
            )
        iss = params.get("iss")
        if iss is not None and iss != self.issuer:
            raise AuthorizationResponseError(
                f"the response came from issuer {iss!r}, not {self.issuer!r} "
                "(RFC 9207 §2.4: possible mix-up attack)"
            )
        if iss is None and self.metadata().get("authorization_response_iss_parameter_supported"):
            raise AuthorizationResponseError(
                "the provider promises an 'iss' parameter (RFC 9207 §3) but the response has none"
            )
        if "error" in params:
            raise OAuthError(
                params["error"],
                params.get("error_description"),
                error_uri=params.get("error_uri"),
                context="authorization",
            )
        code = params.get("code")
        if not code:
            raise AuthorizationResponseError("the authorization response has no 'code'")
        return code

    def exchange_code(
        self, callback_url_or_params: str | Mapping[str, Any], request: AuthorizationRequest
    ) -> TokenSet:
        """Finish the code flow: check the response, redeem the code, validate the ID token.

        ``callback_url_or_params`` is the full callback URL (query response mode) or the
        received parameters (e.g. ``flask.request.values`` for ``form_post``).
        Token request per RFC 6749 §4.1.3 with the PKCE ``code_verifier`` (RFC 7636 §4.5);
        ID token validated per OIDC Core §3.1.3.7 including ``nonce`` and ``at_hash``.
        """
        code = self.parse_authorization_response(callback_url_or_params, request)
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.code_verifier,
        }
        body = self._token_request(data, "authorization code exchange")
        id_token = body.get("id_token")
        wants_openid = "openid" in request.scope.split()
        if wants_openid and not isinstance(id_token, str):
            raise IDTokenError(
                "the token response has no id_token although scope included 'openid' "
                "(OIDC Core §3.1.3.3)"
            )
        claims = (
            self.validate_id_token(
                id_token,
                nonce=request.nonce,
                max_age=request.max_age,
                access_token=body["access_token"],
            )
            if isinstance(id_token, str)
            else {}
        )
        return self._token_set(body, claims)

    def _token_request(self, data: dict[str, str], context: str) -> dict[str, Any]:
        response = self._back_channel("token_endpoint", data, context)
        body = self._json(response, context)
        if not isinstance(body.get("access_token"), str):
            raise ResponseValidationError(f"{context}: token response has no access_token")
        token_type = body.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() not in ("bearer", "dpop"):
            raise ResponseValidationError(
                f"{context}: unsupported token_type {token_type!r} (expected Bearer)"
            )
        return body

    @staticmethod
    def _token_set(body: dict[str, Any], claims: dict[str, Any]) -> TokenSet:
        expires_in = body.get("expires_in")
        expires_at = (
            time.time() + float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        )
        return TokenSet(
            access_token=body["access_token"],
            token_type=body.get("token_type", "Bearer"),
            expires_at=expires_at,
            refresh_token=body.get("refresh_token"),
            id_token=body.get("id_token"),
            id_token_claims=claims,
            scope=body.get("scope"),
            raw=body,
        )

    def validate_id_token(
        self,
        id_token: str,
        *,
        nonce: str | None = None,
        max_age: int | None = None,
        access_token: str | None = None,
    ) -> dict[str, Any]:
        """Validate an ID token per OIDC Core §3.1.3.7 (and §3.1.3.8) and return its claims."""
        algs = allowed_id_token_algs(
            self.id_token_signed_response_alg,
            self.metadata().get("id_token_signing_alg_values_supported"),
        )
        expect = IDTokenExpectations(
            issuer=self.issuer,
            client_id=self.client_id,
            allowed_algs=algs,
            nonce=nonce,
            max_age=max_age,
            trusted_audiences=self.trusted_audiences,
            leeway=self.leeway,
            max_iat_age=self.max_iat_age,
            access_token=access_token,
            client_secret=self.client_secret,
        )
        return validate_id_token(id_token, expect, self.jwks)

    # ------------------------------------------------------------------ other endpoints
    def userinfo(self, access_token: str | TokenSet, *, expected_sub: str | None = None) -> dict[str, Any]:
        """Fetch the person's consented claims from the UserInfo endpoint (OIDC Core §5.3).

        Pass the :class:`TokenSet` from the login, so the ``sub`` is checked against the ID
        token's as OIDC Core §5.3.2 requires; with a bare access token pass ``expected_sub``.
        Signed (``application/jwt``) responses are verified with the provider's JWKS.
        """
        if isinstance(access_token, TokenSet):
            expected_sub = expected_sub or access_token.sub
            access_token = access_token.access_token
        response = self._http(
            "GET",
            self._endpoint("userinfo_endpoint"),
            "userinfo",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            self._raise_bearer_error(response, "userinfo")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "application/jwt":
            claims = self._verify_signed_userinfo(response.text)
        else:
            claims = self._json(response, "userinfo")
        sub = claims.get("sub")
        if not isinstance(sub, str):
            raise ResponseValidationError("userinfo response has no 'sub' (OIDC Core §5.3.2)")
        if expected_sub is not None and sub != expected_sub:
            raise ResponseValidationError(
                f"userinfo 'sub' {sub!r} is not the ID token's {expected_sub!r}; the response "
                "MUST NOT be used (OIDC Core §5.3.2)"
            )
        return claims

    def _raise_bearer_error(self, response: requests.Response, context: str) -> None:
        """Turn a 401/403 with ``WWW-Authenticate`` (RFC 6750 §3) or a JSON error into OAuthError."""
        challenge = response.headers.get("WWW-Authenticate", "")
        fields = dict(
            part.strip().split("=", 1) for part in challenge.replace("Bearer", "", 1).split(",")
            if "=" in part
        )
        error = fields.get("error", "").strip('"')
        if error:
            raise OAuthError(
                error,
                fields.get("error_description", "").strip('"') or None,
                status_code=response.status_code,
                context=context,
            )
        self._json(response, context)  # raises with the JSON error, if any
        raise OAuthError("invalid_response", status_code=response.status_code, context=context)

    def _verify_signed_userinfo(self, token: str) -> dict[str, Any]:
        algs = self.metadata().get("userinfo_signing_alg_values_supported") or list(ASYMMETRIC_ALGS)
        try:
            _, claims = verify_jws(
                token, jwks=self.jwks, allowed_algs=algs, hmac_secret=self.client_secret
            )
        except (ValueError, KeyNotFoundError) as exc:
            raise ResponseValidationError(f"signed userinfo response rejected: {exc}") from exc
        if "iss" in claims and claims["iss"] != self.issuer:
            raise ResponseValidationError("signed userinfo 'iss' is not the provider (OIDC Core §5.3.2)")
        if "aud" in claims and self.client_id not in (
            [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
        ):
            raise ResponseValidationError("signed userinfo 'aud' is not this client")
        return claims

    def refresh(self, refresh_token: str | TokenSet, *, scope: str | None = None) -> TokenSet:
        """Use a refresh token (RFC 6749 §6) and return the new tokens.

        Pass the previous :class:`TokenSet` so a refreshed ID token is checked against the
        original (OIDC Core §12.2) and the refresh token is kept when the provider does not
        rotate it.
        """
        previous = refresh_token if isinstance(refresh_token, TokenSet) else None
        token = previous.refresh_token if previous else refresh_token
        if not token:
            raise ValueError("no refresh token to use")
        data = {"grant_type": "refresh_token", "refresh_token": str(token)}
        if scope:
            data["scope"] = scope
        body = self._token_request(data, "refresh")
        claims: dict[str, Any] = {}
        if isinstance(body.get("id_token"), str):
            claims = self.validate_id_token(body["id_token"], access_token=body["access_token"])
            if previous and previous.id_token_claims:
                check_refreshed_id_token(claims, previous.id_token_claims)
        elif previous:
            claims = dict(previous.id_token_claims)
        tokens = self._token_set(body, claims)
        if tokens.refresh_token is None:
            tokens.refresh_token = str(token)
        if tokens.id_token is None and previous:
            tokens.id_token = previous.id_token
        return tokens

    def client_credentials(self, scope: str | None = None, **params: str) -> TokenSet:
        """Get a token for the client itself (RFC 6749 §4.4); no ID token is involved."""
        data = {"grant_type": "client_credentials", **params}
        if scope:
            data["scope"] = scope
        return self._token_set(self._token_request(data, "client credentials"), {})

    def revoke(self, token: str, *, token_type_hint: str | None = None) -> None:
        """Revoke an access or refresh token (RFC 7009 §2.1); success is HTTP 200 (§2.2)."""
        data = {"token": token}
        if token_type_hint:
            data["token_type_hint"] = token_type_hint
        response = self._back_channel("revocation_endpoint", data, "revocation")
        if response.status_code != 200:
            self._json(response, "revocation")
            raise OAuthError("invalid_response", status_code=response.status_code, context="revocation")

    def introspect(self, token: str, *, token_type_hint: str | None = None) -> dict[str, Any]:
        """Ask the provider about a token (RFC 7662 §2); the answer has at least ``active``."""
        data = {"token": token}
        if token_type_hint:
            data["token_type_hint"] = token_type_hint
        body = self._json(self._back_channel("introspection_endpoint", data, "introspection"), "introspection")
        if not isinstance(body.get("active"), bool):
            raise ResponseValidationError("introspection response has no boolean 'active' (RFC 7662 §2.2)")
        return body

    def end_session_url(
        self,
        id_token_hint: str | TokenSet | None = None,
        *,
        post_logout_redirect_uri: str | None = None,
        state: str | None = None,
        **params: str,
    ) -> str:
        """URL that logs the person out at the provider (OIDC RP-Initiated Logout 1.0 §2)."""
        if isinstance(id_token_hint, TokenSet):
            id_token_hint = id_token_hint.id_token
        query = {"client_id": self.client_id, **params}
        if id_token_hint:
            query["id_token_hint"] = id_token_hint
        if post_logout_redirect_uri:
            query["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state:
            query["state"] = state
        endpoint = self._endpoint("end_session_endpoint")
        separator = "&" if urlsplit(endpoint).query else "?"
        return endpoint + separator + urlencode(query)

    # ------------------------------------------------------------------ consent
    def consent_receipts(self, sub: str | None = None) -> list[str]:
        """Fetch this client's consent receipts from the provider, oldest first.

        Porta's ``consent_receipts_endpoint`` (consent_spec §7): a client-authenticated POST,
        like introspection (RFC 7662 §2.1); ``sub`` narrows the answer to one person.
        Returns the receipt JWTs; check each with :meth:`verify_consent_receipt`.
        """
        data = {"sub": sub} if sub else {}
        response = self._back_channel("consent_receipts_endpoint", data, "consent receipts")
        body = self._json(response, "consent receipts")
        receipts = body.get("receipts")
        if not isinstance(receipts, list) or not all(isinstance(r, str) for r in receipts):
            raise ResponseValidationError("consent receipts response has no 'receipts' list of JWTs")
        return receipts

    def verify_consent_receipt(self, receipt: str, *, require_schema: bool = True) -> dict[str, Any]:
        """Verify a consent receipt from this provider and return its claims.

        Checks the ``typ`` header (``consent-receipt+jwt``), the signature against the
        provider's JWKS (asymmetric algorithms only), that ``iss`` is the provider, and the
        claims against the consent_spec receipt schema via ``consent_spec.verify_receipt``.
        ``require_schema=False`` skips the schema step when ``consent_spec`` is not installed.
        Raises :class:`~client_sdk.errors.ConsentReceiptError`.
        """
        try:
            header, claims = verify_jws(receipt, jwks=self.jwks, allowed_algs=ASYMMETRIC_ALGS)
        except (ValueError, KeyNotFoundError) as exc:
            raise ConsentReceiptError(f"consent receipt signature check failed: {exc}") from exc
        typ = str(header.get("typ", "")).lower().removeprefix("application/")
        if typ != CONSENT_RECEIPT_TYP:
            raise ConsentReceiptError(
                f"JWT typ is {header.get('typ')!r}, not {CONSENT_RECEIPT_TYP!r}: "
                "this is not a consent receipt"
            )
        if claims.get("iss") != self.issuer:
            raise ConsentReceiptError(
                f"receipt issued by {claims.get('iss')!r}, not by this provider {self.issuer!r}"
            )
        try:
            import consent_spec
        except ImportError as exc:
            if require_schema:
                raise ConsentReceiptError(
                    "cannot validate the receipt against the consent_spec schema: the "
                    "consent_spec package is not installed"
                ) from exc
            return claims
        try:
            checked = consent_spec.verify_receipt(receipt, self.jwks.as_jwks(), issuer=self.issuer)
        except Exception as exc:  # consent_spec raises its own errors; report them as ours
            raise ConsentReceiptError(f"consent receipt rejected by consent_spec: {exc}") from exc
        return dict(checked) if isinstance(checked, Mapping) else claims
