"""Client authentication at the provider's back-channel endpoints (RFC 6749 §2.3, OIDC Core §9).

The four methods of RFC 7591 §2: ``client_secret_basic``, ``client_secret_post``,
``private_key_jwt`` (an assertion signed with the client's key, RFC 7523 §3) and ``none``
(a public client names itself with ``client_id``).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import jwt

from client_sdk.keys import SigningKey

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def check_auth_method(method: str | None) -> None:
    """Refuse a method this SDK does not know (None means: choose one)."""
    if method is not None and method not in AUTH_METHODS:
        raise ValueError(f"token_endpoint_auth_method must be one of {AUTH_METHODS}, not {method!r}")


def choose_auth_method(
    explicit: str | None,
    *,
    has_private_key: bool,
    client_secret: str | None,
    metadata: Mapping[str, Any] | None,
) -> str:
    """The method in use: the one asked for, else what the credentials and the provider allow."""
    if explicit:
        return explicit
    if has_private_key:
        return "private_key_jwt"
    if not client_secret:
        return "none"
    supported = (metadata or {}).get("token_endpoint_auth_methods_supported") or [
        "client_secret_basic"
    ]
    if "client_secret_basic" in supported:
        return "client_secret_basic"
    if "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


def client_assertion(client_id: str, signing_key: SigningKey | None, audience: str) -> str:
    """A ``private_key_jwt`` assertion (OIDC Core §9, RFC 7523 §3), valid for 60 seconds."""
    if signing_key is None:
        raise ValueError("private_key_jwt needs the client's private_key")
    key, alg, kid = signing_key
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def authenticate(
    method: str,
    data: dict[str, str],
    headers: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None,
    assertion: Any,
) -> None:
    """Add client authentication to a back-channel request's form ``data`` or ``headers``.

    ``assertion`` is called for ``private_key_jwt`` only, and returns the signed assertion.
    """
    if method == "client_secret_basic":
        if not client_secret:
            raise ValueError("client_secret_basic needs a client_secret")
        # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif method == "client_secret_post":
        if not client_secret:
            raise ValueError("client_secret_post needs a client_secret")
        data["client_id"] = client_id
        data["client_secret"] = client_secret
    elif method == "private_key_jwt":
        data["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        data["client_assertion"] = assertion()
    else:
        data["client_id"] = client_id
