"""Clients: metadata validation (RFC 7591 §2) and client authentication (RFC 6749 §2.3).

Supported authentication methods: ``client_secret_basic`` (RFC 6749 §2.3.1),
``client_secret_post`` (same section), ``private_key_jwt`` (OIDC Core §9,
RFC 7523 §2.2) and ``none`` for public clients, which must use PKCE.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import jsonschema
import jwt

from idp.base.clock import now
from idp.base.context import PATHS, Context
from idp.base.encoding import constant_time_equals, digest, random_token
from idp.base.errors import (
    InvalidClientError,
    InvalidClientMetadataError,
    InvalidRedirectUriError,
    InvalidRequestError,
)
from idp.storage.models import Client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ASSERTION_ALGS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
#: The scope values OpenID Connect defines (OIDC Core §3.1.2.1, §5.4, §11).
OIDC_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})
KNOWN_METADATA = frozenset(
    json.loads(resources.files("idp").joinpath("schemas/client-metadata.schema.json").read_text())[
        "properties"
    ]
)


@cache
def _metadata_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(
        resources.files("idp").joinpath("schemas/client-metadata.schema.json").read_text()
    )
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_redirect_uri(uri: str, application_type: str, field: str) -> None:
    """RFC 6749 §3.1.2 (absolute, no fragment), RFC 8252 §7 (native), RFC 9700 §4.1 (https)."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or "#" in uri:
        raise InvalidRedirectUriError(f"{field}: {uri!r} must be an absolute URI without fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port above 65535 or not a number
    except ValueError:
        raise InvalidRedirectUriError(f"{field}: {uri!r} has an invalid port") from None
    if parts.scheme == "https":
        if not parts.hostname:
            raise InvalidRedirectUriError(f"{field}: {uri!r} has no host")
        return
    if parts.scheme == "http":
        if _is_loopback(parts.hostname):
            return
        raise InvalidRedirectUriError(
            f"{field}: {uri!r} must use https (http is allowed only for loopback addresses)"
        )
    if application_type == "native" and "." in parts.scheme:
        return  # private-use URI scheme in reverse-domain form, RFC 8252 §7.1
    raise InvalidRedirectUriError(
        f"{field}: scheme {parts.scheme!r} is not allowed (use https, loopback http, or a "
        "reverse-domain private-use scheme for native apps)"
    )


def check_push_endpoint(uri: str, field: str) -> None:
    """An endpoint Porta POSTs to (events, back-channel logout): https, or http on loopback."""
    parts = urlsplit(uri)
    if parts.fragment or not parts.hostname:
        raise InvalidClientMetadataError(f"{field}: must be an absolute URL without fragment")
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise InvalidClientMetadataError(f"{field}: must use https (http only on loopback)")


def validate_metadata(raw: Any) -> dict[str, Any]:
    """Validate client metadata and fill defaults; raises with a description naming the field."""
    if not isinstance(raw, dict):
        raise InvalidClientMetadataError("client metadata must be a JSON object")
    errors = sorted(_metadata_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = ".".join(str(p) for p in error.absolute_path) or "(document)"
        cls = (
            InvalidRedirectUriError
            if path.startswith("redirect_uris")
            else InvalidClientMetadataError
        )
        raise cls(f"{path}: {error.message}")
    metadata = {k: v for k, v in raw.items() if k in KNOWN_METADATA}
    metadata.setdefault("application_type", "web")
    metadata.setdefault("grant_types", ["authorization_code"])
    metadata.setdefault("token_endpoint_auth_method", "client_secret_basic")
    grant_types = metadata["grant_types"]
    if "response_types" not in metadata:
        metadata["response_types"] = ["code"] if "authorization_code" in grant_types else []
    if ("code" in metadata["response_types"]) != ("authorization_code" in grant_types):
        raise InvalidClientMetadataError(
            "grant_types and response_types disagree: response type code goes with the "
            "authorization_code grant (RFC 7591 §2.1)"
        )
    if "authorization_code" in grant_types:
        if not metadata.get("redirect_uris"):
            raise InvalidRedirectUriError(
                "redirect_uris: required for the authorization_code grant"
            )
        for i, uri in enumerate(metadata["redirect_uris"]):
            _check_redirect_uri(uri, metadata["application_type"], f"redirect_uris.{i}")
    for i, uri in enumerate(metadata.get("post_logout_redirect_uris", [])):
        _check_redirect_uri(uri, metadata["application_type"], f"post_logout_redirect_uris.{i}")
    method = metadata["token_endpoint_auth_method"]
    if method == "none" and "client_credentials" in grant_types:
        raise InvalidClientMetadataError(
            "grant_types: a public client (token_endpoint_auth_method none) cannot use "
            "client_credentials"
        )
    if "jwks" in metadata and "jwks_uri" in metadata:
        raise InvalidClientMetadataError("jwks and jwks_uri must not both be present (RFC 7591 §2)")
    if method == "private_key_jwt" and not ("jwks" in metadata or "jwks_uri" in metadata):
        raise InvalidClientMetadataError(
            "jwks: private_key_jwt needs the client's public keys in jwks or jwks_uri"
        )
    if "jwks" in metadata:
        for i, key in enumerate(metadata["jwks"]["keys"]):
            if any(k in key for k in ("d", "p", "q", "dp", "dq", "qi", "k")):
                raise InvalidClientMetadataError(f"jwks.keys.{i}: must hold public keys only")
            try:
                jwt.PyJWK(key)
            except jwt.PyJWTError as exc:
                raise InvalidClientMetadataError(f"jwks.keys.{i}: {exc}") from exc
    jwks_uri = urlsplit(metadata.get("jwks_uri", "https://x"))
    if jwks_uri.scheme != "https" and not _is_loopback(jwks_uri.hostname):
        raise InvalidClientMetadataError("jwks_uri: must be an https URL")
    # Shown to the person as links or images (RFC 7591 §2, OIDC Registration §2): web
    # addresses only, never javascript:, data: or other schemes a page would act on.
    for member in ("client_uri", "logo_uri", "policy_uri", "tos_uri"):
        if member in metadata:
            parts = urlsplit(metadata[member])
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise InvalidClientMetadataError(f"{member}: must be an http(s) URL")
    return metadata


def is_public(client: Client) -> bool:
    """A client without credentials (RFC 6749 §2.1)."""
    return client.metadata_.get("token_endpoint_auth_method") == "none"


def new_client_id() -> str:
    """A fresh, unguessable client identifier."""
    return random_token(18)


def create_client(
    ctx: Context,
    metadata: dict[str, Any],
    *,
    dynamic: bool = False,
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[Client, str | None, str | None]:
    """Register a client; returns it with its secret and registration access token (plain)."""
    needs_secret = metadata["token_endpoint_auth_method"] in {
        "client_secret_basic",
        "client_secret_post",
    }
    secret = (secret or random_token(32)) if needs_secret else None
    registration_token = random_token(32) if dynamic else None
    client = ctx.store.create_client(
        client_id or new_client_id(),
        metadata,
        client_secret_hash=digest(secret) if secret else None,
        registration_token_hash=digest(registration_token) if registration_token else None,
        dynamic=dynamic,
    )
    return client, secret, registration_token


def self_registration_scopes(ctx: Context) -> frozenset[str]:
    """Scopes a client registered through ``/register`` may obtain: the OIDC ones, plus
    those the operator granted in ``PORTA_REGISTRATION_ALLOWED_SCOPES``."""
    return OIDC_SCOPES | frozenset(ctx.settings.registration_allowed_scopes.split())


def registered_scopes(ctx: Context, client: Client) -> list[str]:
    """The scope values ``client`` registered and may still obtain (RFC 7591 §2 ``scope``).

    An operator's client keeps all it was given. A self-registered one keeps only
    what the allow-list grants today, so a client registered before the list (or
    before the operator narrowed it) does not keep a scope it could not get now.
    """
    scopes = (client.metadata_.get("scope") or "").split()
    if not client.dynamic:
        return scopes
    allowed = self_registration_scopes(ctx)
    return [s for s in scopes if s in allowed]


def limit_self_registered_scope(ctx: Context, metadata: dict[str, Any]) -> dict[str, Any]:
    """Drop from a self-registered client's ``scope`` what the operator has not allowed.

    RFC 7591 §2 leaves scope values to the server and §3.2.1 lets it replace a
    requested value; the response shows the client what it was registered with.
    Refusing instead would break RPs that list a harmless extra scope.
    """
    if "scope" not in metadata:
        return metadata
    allowed = self_registration_scopes(ctx)
    kept = [s for s in metadata["scope"].split() if s in allowed]
    limited = {k: v for k, v in metadata.items() if k != "scope"}
    if kept:
        limited["scope"] = " ".join(kept)
    return limited


# -- client authentication ----------------------------------------------------------------


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        # A header value is bytes to HTTP: non-ASCII text here is a ValueError, not binascii.Error.
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise InvalidClientError("malformed Basic authorization header") from exc
    if ":" not in decoded:
        raise InvalidClientError("malformed Basic authorization header")
    client_id, secret = decoded.split(":", 1)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(
    ctx: Context,
    params: dict[str, str],
    authorization: str | None,
    *,
    endpoint: str,
) -> Client:
    """Authenticate the client of a token, revocation or introspection request.

    Exactly one method may be used (RFC 6749 §2.3), and it must be the one the
    client registered. Unknown client and wrong secret give the same answer.
    """
    basic = _basic_credentials(authorization)
    used = [
        name
        for name, present in (
            ("client_secret_basic", basic is not None),
            ("client_secret_post", "client_secret" in params),
            ("private_key_jwt", "client_assertion" in params),
        )
        if present
    ]
    if len(used) > 1:
        raise InvalidRequestError("more than one client authentication method was used")
    method = used[0] if used else "none"

    if method == "client_secret_basic":
        assert basic is not None
        client_id, secret = basic
        if params.get("client_id") not in (None, client_id):
            raise InvalidRequestError("client_id does not match the authenticated client")
    elif method == "private_key_jwt":
        return _authenticate_assertion(ctx, params, endpoint)
    else:
        client_id = params.get("client_id", "")
        secret = params.get("client_secret", "")
    if not client_id:
        raise InvalidClientError("client authentication required", status_code=401)

    client = ctx.store.get_client(client_id)
    if client is None:
        raise InvalidClientError()
    registered = client.metadata_.get("token_endpoint_auth_method", "client_secret_basic")
    if registered != method:
        raise InvalidClientError(f"this client is registered for {registered}, not {method}")
    if method != "none" and not (
        client.client_secret_hash
        and constant_time_equals(digest(secret), client.client_secret_hash)
    ):
        raise InvalidClientError()
    return client


def require_authenticated(client: Client, purpose: str) -> None:
    """A public client (``none``) proves nothing about who calls: refuse it ``purpose``."""
    if client.metadata_.get("token_endpoint_auth_method") == "none":
        raise InvalidClientError(f"{purpose} needs client authentication; public clients cannot")


def client_jwks(ctx: Context, client: Client) -> dict[str, Any]:
    """The client's public keys, from ``jwks`` or fetched from ``jwks_uri``."""
    if "jwks" in client.metadata_:
        return client.metadata_["jwks"]
    try:
        document = ctx.fetch_json(client.metadata_["jwks_uri"])
    except Exception as exc:
        # No detail from the exception: it would tell a registrant what answers at any
        # address the provider can reach (connection refused, reset, TLS error...).
        raise InvalidClientError("could not fetch the client's jwks_uri") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidClientError("the client's jwks_uri did not return a JWK Set")
    return document


MAX_ASSERTION_LIFETIME = 3600  # seconds an assertion's exp may lie ahead


def _authenticate_assertion(ctx: Context, params: dict[str, str], endpoint: str) -> Client:
    """private_key_jwt: RFC 7523 §3 checks on the client assertion, plus jti replay."""
    if params.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClientError(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = params["client_assertion"]
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidClientError(f"client_assertion is not a JWT: {exc}") from exc
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or unverified.get("sub") != client_id:
        raise InvalidClientError("client_assertion iss and sub must both be the client_id")
    if params.get("client_id") not in (None, client_id):
        raise InvalidClientError("client_id does not match the client assertion")
    client = ctx.store.get_client(client_id)
    if client is None or client.metadata_.get("token_endpoint_auth_method") != "private_key_jwt":
        raise InvalidClientError("client is not registered for private_key_jwt")
    alg = header.get("alg")
    if alg not in ASSERTION_ALGS:
        raise InvalidClientError(f"client_assertion alg {alg!r} is not allowed")
    registered_alg = client.metadata_.get("token_endpoint_auth_signing_alg")
    if registered_alg and alg != registered_alg:
        raise InvalidClientError(f"client_assertion must be signed with {registered_alg}")
    keys = [
        key
        for key in client_jwks(ctx, client)["keys"]
        if key.get("use", "sig") == "sig"
        and (not header.get("kid") or key.get("kid") == header["kid"])
    ]
    audiences = [ctx.issuer, ctx.endpoint(PATHS["token_endpoint"]), endpoint]
    claims = None
    for key in keys:
        try:
            public = jwt.PyJWK(key, algorithm=alg).key
            claims = jwt.decode(
                assertion,
                public,
                algorithms=[alg],
                audience=audiences,
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
                leeway=30,
            )
            break
        except jwt.PyJWTError:
            continue
    if claims is None:
        raise InvalidClientError("client_assertion signature, audience or expiry is invalid")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= 255 or "\x00" in jti:
        raise InvalidClientError("client_assertion jti must be a string of 1 to 255 characters")
    # RFC 7523 §3 item 4 lets the server refuse an exp unreasonably far in the future; the
    # bound also keeps the replay record's expiry a date (exp=1e12 is year 33658).
    if claims["exp"] > now().timestamp() + MAX_ASSERTION_LIFETIME:
        raise InvalidClientError("client_assertion exp is too far in the future")
    exp = now().timestamp() + 600
    expires_at = datetime.fromtimestamp(max(claims["exp"], exp), UTC)
    if not ctx.store.remember_assertion(client_id, jti, expires_at):
        raise InvalidClientError("client_assertion jti was already used (replay)")
    return client
