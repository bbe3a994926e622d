"""The authentication request (OIDC Core §3.1.2.1): its parameters, with fresh ``state``,
``nonce`` and PKCE S256 (RFC 7636) every time, and whether to push it first (RFC 9126)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple

from client_sdk.errors import DiscoveryError
from client_sdk.tokens import pkce_pair


class AuthenticationQuery(NamedTuple):
    """The request's query parameters and the per-login values the callback is checked with."""

    query: dict[str, str]
    state: str
    nonce: str
    code_verifier: str
    max_age: int | None


def authentication_query(
    client_id: str, redirect_uri: str, scope: str, params: Mapping[str, Any]
) -> AuthenticationQuery:
    """The query of a code-flow request; extra ``params`` are added as given (a dict as JSON,
    OIDC Core §5.5; None left out), but may not replace what the client sets itself."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    query: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
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
    return AuthenticationQuery(query, state, nonce, verifier, max_age)


def should_push(metadata: Mapping[str, Any], use_par: bool | None) -> bool:
    """Whether to use PAR (RFC 9126): when the provider requires it, or offers it and
    ``use_par`` is True. A provider that requires it but has no endpoint is an error."""
    offered = bool(metadata.get("pushed_authorization_request_endpoint"))
    required = bool(metadata.get("require_pushed_authorization_requests"))
    if required and not offered:
        raise DiscoveryError(
            "the provider requires pushed authorization requests but advertises no "
            "pushed_authorization_request_endpoint (RFC 9126 §5)"
        )
    if required and use_par is False:
        raise ValueError("the provider requires PAR (RFC 9126) but use_par=False")
    return required or (use_par is True and offered)
