"""Reading what the provider sends back: callbacks, JSON bodies, bearer errors, signed userinfo.

Pure functions over responses; :class:`client_sdk.Client` calls them with its issuer,
client_id and keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from client_sdk.errors import AuthorizationResponseError, OAuthError, ResponseValidationError
from client_sdk.jwks import ASYMMETRIC_ALGS, JWKSCache, KeyNotFoundError, verify_jws


def single_values(params: Mapping[str, Any]) -> dict[str, str]:
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


def callback_params(callback_url_or_params: str | Mapping[str, Any]) -> dict[str, str]:
    """The parameters of an authorization response: the callback URL's query (or fragment),
    or the received parameters as given (e.g. ``flask.request.values`` for ``form_post``)."""
    if isinstance(callback_url_or_params, str):
        parts = urlsplit(callback_url_or_params)
        params = single_values(parse_qs(parts.query, keep_blank_values=True))
        if not params and parts.fragment:
            params = single_values(parse_qs(parts.fragment, keep_blank_values=True))
        return params
    return single_values(callback_url_or_params)


def authorization_code(
    params: Mapping[str, str], *, state: str, issuer: str, iss_promised: Callable[[], bool]
) -> str:
    """Check an authorization response and return its ``code``.

    Checks, in this order: ``state`` (RFC 6749 §10.12), ``iss`` (RFC 9207 §2.4; required
    when ``iss_promised()``), then the ``error`` response (RFC 6749 §4.1.2.1, raised as
    :class:`OAuthError`).
    """
    received_state = params.get("state")
    if received_state is None or not secrets.compare_digest(received_state, state):
        raise AuthorizationResponseError(
            "the response's state does not match this browser's authorization request "
            "(RFC 6749 §10.12): it may be forged, replayed, or from another tab"
        )
    iss = params.get("iss")
    if iss is not None and iss != issuer:
        raise AuthorizationResponseError(
            f"the response came from issuer {iss!r}, not {issuer!r} "
            "(RFC 9207 §2.4: possible mix-up attack)"
        )
    if iss is None and iss_promised():
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


def json_body(
    response: requests.Response, context: str, ok: tuple[int, ...] = (200,)
) -> dict[str, Any]:
    """The JSON object of a successful response; an OAuth error (RFC 6749 §5.2) otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code not in ok:
        raise OAuthError.from_response_body(body, status_code=response.status_code, context=context)
    if not isinstance(body, dict):
        raise ResponseValidationError(f"{context}: the provider's response is not a JSON object")
    return body


def raise_bearer_error(response: requests.Response, context: str) -> None:
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
    json_body(response, context)  # raises with the JSON error, if any
    raise OAuthError("invalid_response", status_code=response.status_code, context=context)


def verify_signed_userinfo(
    token: str,
    *,
    jwks: JWKSCache,
    allowed_algs: list[str] | None,
    client_secret: str | None,
    issuer: str,
    client_id: str,
) -> dict[str, Any]:
    """The claims of an ``application/jwt`` userinfo response (OIDC Core §5.3.2)."""
    algs = allowed_algs or list(ASYMMETRIC_ALGS)
    try:
        _, claims = verify_jws(token, jwks=jwks, allowed_algs=algs, hmac_secret=client_secret)
    except (ValueError, KeyNotFoundError) as exc:
        raise ResponseValidationError(f"signed userinfo response rejected: {exc}") from exc
    if "iss" in claims and claims["iss"] != issuer:
        raise ResponseValidationError("signed userinfo 'iss' is not the provider (OIDC Core §5.3.2)")
    if "aud" in claims and client_id not in (
        [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    ):
        raise ResponseValidationError("signed userinfo 'aud' is not this client")
    return claims
