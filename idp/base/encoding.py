"""Encoding helpers: randomness, digests, base64url and scope strings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random value with ``nbytes`` of entropy (RFC 6749 §10.10)."""
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    """SHA-256 hex digest, for storing high-entropy secrets."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def left_half_hash(value: str, alg: str) -> str:
    """at_hash / c_hash: base64url of the left half of the hash named by ``alg`` (OIDC Core §3.1.3.6)."""
    bits = int(alg[2:])
    algorithm = {256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}[bits]
    full = algorithm(value.encode("ascii")).digest()
    return b64url(full[: len(full) // 2])


def split_scope(scope: str | None) -> list[str]:
    """Scope values in order, without duplicates (RFC 6749 §3.3)."""
    seen: list[str] = []
    for value in (scope or "").split(" "):
        if value and value not in seen:
            seen.append(value)
    return seen
