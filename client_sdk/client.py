"""``Client``: one relying party talking to one OpenID provider, over ``requests``.

The client is thread-safe and keeps no global state: discovery metadata and the JWKS are
cached per instance (each behind a lock), and every per-login value (``state``, ``nonce``,
``code_verifier``) travels in the :class:`AuthorizationRequest` the caller keeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from client_sdk.auth import (
    AUTH_METHODS,
    CLIENT_ASSERTION_TYPE,
    authenticate,
    check_auth_method,
    choose_auth_method,
)
from client_sdk.auth import client_assertion as make_client_assertion
from client_sdk.authorization import authentication_query, should_push
from client_sdk.discovery import discover
from client_sdk.errors import (
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
from client_sdk.jwks import JWKSCache
from client_sdk.keys import load_private_key, public_jwks
from client_sdk.receipts import CONSENT_RECEIPT_TYP, verify_consent_receipt
from client_sdk.responses import (
    authorization_code,
    callback_params,
    json_body,
    raise_bearer_error,
    verify_signed_userinfo,
)
from client_sdk.tokens import (
    AuthorizationRequest,
    TokenSet,
    check_token_response,
    token_set,
)

# Names other modules (and older callers) import from here.
__all__ = [
    "AUTH_METHODS",
    "CLIENT_ASSERTION_TYPE",
    "CONSENT_RECEIPT_TYP",
    "AuthorizationRequest",
    "Client",
    "TokenSet",
]


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
        check_auth_method(token_endpoint_auth_method)
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
        self._private_key = load_private_key(private_key) if private_key is not None else None
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
                self._metadata = discover(self.session, self.issuer, self.timeout)
                self._metadata_at = now
            return self._metadata

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
        return json_body(response, context, ok)

    # ------------------------------------------------------------------ client authentication
    @property
    def token_endpoint_auth_method(self) -> str:
        """The client authentication method in use (OIDC Core §9, RFC 7591 §2)."""
        return choose_auth_method(
            self._explicit_auth_method,
            has_private_key=self._private_key is not None,
            client_secret=self.client_secret,
            metadata=self._metadata,
        )

    def client_assertion(self, audience: str | None = None) -> str:
        """A ``private_key_jwt`` assertion (OIDC Core §9, RFC 7523 §3), valid for 60 seconds.

        ``audience`` defaults to the token endpoint, as OIDC Core §9 says.
        """
        if self._private_key is None:
            raise ValueError("private_key_jwt needs the client's private_key")
        audience = audience or self._endpoint("token_endpoint")
        return make_client_assertion(self.client_id, self._private_key, audience)

    def public_jwks(self) -> dict[str, Any]:
        """The public half of ``private_key`` as a JWKS, to register as ``jwks`` (RFC 7591 §2)."""
        if self._private_key is None:
            raise ValueError("this client has no private_key")
        return public_jwks(self._private_key)

    def _back_channel(
        self, endpoint_name: str, data: dict[str, str], context: str
    ) -> requests.Response:
        url = self._endpoint(endpoint_name)
        headers = {"Accept": "application/json"}
        authenticate(
            self.token_endpoint_auth_method,
            data,
            headers,
            client_id=self.client_id,
            client_secret=self.client_secret,
            assertion=lambda: self.client_assertion(self._endpoint("token_endpoint")),
        )
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
        request = authentication_query(self.client_id, redirect_uri, scope, params)
        query = request.query
        endpoint = self._endpoint("authorization_endpoint")
        if should_push(self.metadata(), self.use_par):
            query = {"client_id": self.client_id, "request_uri": self._push(query)}
        separator = "&" if urlsplit(endpoint).query else "?"
        return AuthorizationRequest(
            url=endpoint + separator + urlencode(query),
            state=request.state,
            nonce=request.nonce,
            code_verifier=request.code_verifier,
            redirect_uri=redirect_uri,
            scope=scope,
            max_age=request.max_age,
        )

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
        return authorization_code(
            callback_params(callback_url_or_params),
            state=request.state,
            issuer=self.issuer,
            iss_promised=lambda: bool(
                self.metadata().get("authorization_response_iss_parameter_supported")
            ),
        )

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
        return token_set(body, claims)

    def _token_request(self, data: dict[str, str], context: str) -> dict[str, Any]:
        response = self._back_channel("token_endpoint", data, context)
        return check_token_response(self._json(response, context), context)

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
            raise_bearer_error(response, "userinfo")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "application/jwt":
            claims = verify_signed_userinfo(
                response.text,
                jwks=self.jwks,
                allowed_algs=self.metadata().get("userinfo_signing_alg_values_supported"),
                client_secret=self.client_secret,
                issuer=self.issuer,
                client_id=self.client_id,
            )
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
        tokens = token_set(body, claims)
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
        return token_set(self._token_request(data, "client credentials"), {})

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
        return verify_consent_receipt(
            receipt, self.jwks, self.issuer, require_schema=require_schema
        )
