"""Sign and verify consent receipts (SPEC.md section 7).

A consent receipt is a JWS in compact serialization (RFC 7515) whose payload is a
JWT claims set (RFC 7519) valid against the ``consent-receipt`` schema. Its
protected header has ``typ`` ``consent-receipt+jwt`` (explicit typing, RFC 8725
section 3.11), an ``alg`` from :data:`ALLOWED_ALGORITHMS` and the ``kid`` of a
key in the issuer's JWKS (published at ``jwks_uri``, OIDC Discovery section 3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from .issues import ValidationIssue
from .validate import validate

RECEIPT_TYP = "consent-receipt+jwt"
"""The JWS ``typ`` header value of a consent receipt."""

ALLOWED_ALGORITHMS: tuple[str, ...] = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
"""JWS algorithms a receipt may use (RFC 7518 section 3.1, RFC 8037); never ``none`` or HMAC."""

_KTY_FOR_ALG = {"ES256": "EC", "ES384": "EC", "EdDSA": "OKP", "PS256": "RSA", "RS256": "RSA"}


class ReceiptVerificationError(Exception):
    """A consent receipt failed verification.

    ``reason`` is a short machine-readable code (``malformed``, ``typ``, ``alg``,
    ``key``, ``signature``, ``issuer``, ``audience``, ``schema``); ``errors`` holds the
    validation issues when ``reason`` is ``schema``.
    """

    def __init__(self, reason: str, message: str, errors: list[ValidationIssue] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.errors = list(errors or [])


def _normalise_typ(typ: object) -> str | None:
    # RFC 7515 section 4.1.9: typ is a media type, compared case-insensitively, and
    # the "application/" prefix may be left out.
    if not isinstance(typ, str):
        return None
    typ = typ.lower()
    return typ.removeprefix("application/")


def _load_jwks(jwks: Mapping[str, Any] | str | bytes) -> list[dict[str, Any]]:
    if isinstance(jwks, str | bytes):
        try:
            jwks = json.loads(jwks)
        except ValueError as exc:
            raise ReceiptVerificationError("key", f"JWKS is not JSON: {exc}") from exc
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ReceiptVerificationError("key", "JWKS must be an object with a 'keys' array (RFC 7517 section 5)")
    return [key for key in jwks["keys"] if isinstance(key, dict)]


def _select_key(keys: list[dict[str, Any]], header: dict[str, Any]) -> dict[str, Any]:
    alg = header["alg"]
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise ReceiptVerificationError("key", "receipt header has no 'kid'")
    candidates = [key for key in keys if key.get("kid") == kid]
    if not candidates:
        raise ReceiptVerificationError("key", f"no key with kid {kid!r} in the JWKS")
    key = candidates[0]
    if key.get("kty") != _KTY_FOR_ALG[alg]:
        raise ReceiptVerificationError("key", f"key {kid!r} has kty {key.get('kty')!r}, which cannot verify {alg}")
    if key.get("use", "sig") != "sig":
        raise ReceiptVerificationError("key", f"key {kid!r} is not a signing key (use={key.get('use')!r})")
    if "alg" in key and key["alg"] != alg:
        raise ReceiptVerificationError("key", f"key {kid!r} is for {key['alg']}, not {alg}")
    if any(member in key for member in ("d", "p", "q", "k")):
        raise ReceiptVerificationError("key", f"key {kid!r} contains private or symmetric key material")
    return key


def verify_receipt(
    receipt: str,
    jwks: Mapping[str, Any] | str | bytes,
    *,
    issuer: str | None = None,
    audience: str | None = None,
) -> dict[str, Any]:
    """Verify a consent receipt and return its claims (SPEC.md section 7.3).

    Checks, in order: compact JWS syntax; ``typ`` is ``consent-receipt+jwt``; ``alg``
    is in :data:`ALLOWED_ALGORITHMS`; no ``crit`` header; the ``kid`` names a public
    signing key of the right type in ``jwks``; the signature; ``iss`` equals
    ``issuer`` and ``aud`` contains ``audience`` when those are given; and the claims
    are valid against the ``consent-receipt`` schema and rules.

    ``jwks`` is a JWK Set (RFC 7517 section 5) as a mapping or JSON text.
    Raises :class:`ReceiptVerificationError` on any failure.
    """
    if not isinstance(receipt, str):
        raise ReceiptVerificationError("malformed", "a receipt is a JWS compact serialization string")
    receipt = receipt.strip()
    try:
        header = jwt.get_unverified_header(receipt)
    except (InvalidTokenError, RecursionError) as exc:
        raise ReceiptVerificationError("malformed", f"not a JWS compact serialization: {exc}") from exc
    if _normalise_typ(header.get("typ")) != RECEIPT_TYP:
        raise ReceiptVerificationError("typ", f"header typ is {header.get('typ')!r}, expected {RECEIPT_TYP!r}")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise ReceiptVerificationError("alg", f"algorithm {alg!r} is not allowed; allowed: {', '.join(ALLOWED_ALGORITHMS)}")
    if "crit" in header:
        raise ReceiptVerificationError("malformed", "receipt uses critical header parameters this verifier does not understand")
    key = _select_key(_load_jwks(jwks), header)
    try:
        public_key = jwt.PyJWK(key, algorithm=alg)
    except PyJWKError as exc:
        raise ReceiptVerificationError("key", f"key {header['kid']!r} is not a usable JWK: {exc}") from exc
    try:
        claims = jwt.decode(
            receipt,
            key=public_key,
            algorithms=[alg],
            options={"verify_aud": False, "verify_iss": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except InvalidTokenError as exc:
        raise ReceiptVerificationError("signature", f"signature check failed: {exc}") from exc
    except RecursionError as exc:  # a payload nested beyond what the JSON parser can read
        raise ReceiptVerificationError("malformed", "the payload is nested too deeply to be read") from exc
    if issuer is not None and claims.get("iss") != issuer:
        raise ReceiptVerificationError("issuer", f"iss is {claims.get('iss')!r}, expected {issuer!r}")
    if audience is not None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:
            raise ReceiptVerificationError("audience", f"aud {aud!r} does not include {audience!r}")
    errors = validate(claims, "consent-receipt")
    if errors:
        summary = "; ".join(str(error) for error in errors[:5])
        raise ReceiptVerificationError("schema", f"receipt claims are not a valid consent receipt: {summary}", errors)
    return claims


def sign_receipt(claims: Mapping[str, Any], private_key: Any, kid: str, algorithm: str = "ES256") -> str:
    """Sign receipt ``claims`` as a compact JWS with the receipt header (SPEC.md section 7.1).

    ``private_key`` is anything PyJWT accepts for ``algorithm`` (a ``cryptography``
    private key or PEM). The claims are validated first; invalid claims raise
    ``ValueError`` because signing them would publish a receipt nobody can verify.
    """
    if algorithm not in ALLOWED_ALGORITHMS:
        raise ValueError(f"algorithm {algorithm!r} is not allowed for receipts")
    errors = validate(dict(claims), "consent-receipt")
    if errors:
        raise ValueError("claims are not a valid consent receipt: " + "; ".join(map(str, errors[:5])))
    return jwt.encode(dict(claims), private_key, algorithm=algorithm, headers={"typ": RECEIPT_TYP, "kid": kid})
