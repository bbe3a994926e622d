"""Proof Key for Code Exchange, RFC 7636, as RFC 9700 §2.1.1 requires it.

Only ``S256`` is accepted: ``plain`` offers no protection when the
authorization request leaks, so it is refused outright.
"""

from __future__ import annotations

import hashlib
import re

from idp.base.encoding import b64url, constant_time_equals
from idp.base.errors import InvalidGrantError, InvalidRequestError

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
# An S256 challenge is the base64url encoding of 32 bytes: 43 characters.
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> str | None:
    """Validate the authorization request's PKCE parameters (RFC 7636 §4.3)."""
    if challenge is None:
        if method is not None:
            raise InvalidRequestError("code_challenge_method without code_challenge")
        if required:
            raise InvalidRequestError("code_challenge is required (PKCE, RFC 7636) for this client")
        return None
    if method is None or method == "plain":
        raise InvalidRequestError(
            "code_challenge_method must be S256; plain is not allowed (RFC 9700 §2.1.1)"
        )
    if method != "S256":
        raise InvalidRequestError(f"unsupported code_challenge_method {method!r}")
    if not _CHALLENGE.match(challenge):
        raise InvalidRequestError("code_challenge is not a base64url SHA-256 value")
    return challenge


def verify(challenge: str | None, verifier: str | None) -> None:
    """Check the token request's code_verifier against the stored challenge (RFC 7636 §4.6).

    A verifier sent for a code issued without a challenge is refused too: that
    is the PKCE downgrade attack of RFC 9700 §2.1.1.
    """
    if challenge is None:
        if verifier is not None:
            raise InvalidGrantError("code_verifier sent but the authorization request had no PKCE")
        return
    if verifier is None:
        raise InvalidGrantError("code_verifier is required: the authorization request used PKCE")
    if not _VERIFIER.match(verifier):
        raise InvalidGrantError("code_verifier is malformed (RFC 7636 §4.1)")
    computed = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    if not constant_time_equals(computed, challenge):
        raise InvalidGrantError("code_verifier does not match the code_challenge")
