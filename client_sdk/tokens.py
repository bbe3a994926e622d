"""What one login leaves in the caller's hands: the request in flight and the tokens.

:class:`AuthorizationRequest` carries the per-login secrets (``state``, ``nonce``,
``code_verifier``) from the redirect to the callback; :class:`TokenSet` is a token
response. Both round-trip through ``to_dict``/``from_dict`` for a session store.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from client_sdk.errors import ResponseValidationError


def pkce_pair() -> tuple[str, str]:
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


def check_token_response(body: dict[str, Any], context: str) -> dict[str, Any]:
    """A successful token response (RFC 6749 §5.1) must have an access_token of a known type."""
    if not isinstance(body.get("access_token"), str):
        raise ResponseValidationError(f"{context}: token response has no access_token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() not in ("bearer", "dpop"):
        raise ResponseValidationError(
            f"{context}: unsupported token_type {token_type!r} (expected Bearer)"
        )
    return body


def token_set(body: dict[str, Any], claims: dict[str, Any]) -> TokenSet:
    """A :class:`TokenSet` from a checked token response and the validated ID token claims."""
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
