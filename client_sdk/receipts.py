"""Porta's consent receipts (consent_spec §7): signed JWTs of type ``consent-receipt+jwt``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from client_sdk.errors import ConsentReceiptError
from client_sdk.jwks import ASYMMETRIC_ALGS, JWKSCache, KeyNotFoundError, verify_jws

#: Media type of Porta consent receipts (``typ`` JWS header, RFC 7515 §4.1.9).
CONSENT_RECEIPT_TYP = "consent-receipt+jwt"


def verify_consent_receipt(
    receipt: str, jwks: JWKSCache, issuer: str, *, require_schema: bool = True
) -> dict[str, Any]:
    """Verify a consent receipt from ``issuer`` against its keys and return its claims.

    See :meth:`client_sdk.Client.verify_consent_receipt`.
    """
    try:
        header, claims = verify_jws(receipt, jwks=jwks, allowed_algs=ASYMMETRIC_ALGS)
    except (ValueError, KeyNotFoundError) as exc:
        raise ConsentReceiptError(f"consent receipt signature check failed: {exc}") from exc
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    if typ != CONSENT_RECEIPT_TYP:
        raise ConsentReceiptError(
            f"JWT typ is {header.get('typ')!r}, not {CONSENT_RECEIPT_TYP!r}: "
            "this is not a consent receipt"
        )
    if claims.get("iss") != issuer:
        raise ConsentReceiptError(
            f"receipt issued by {claims.get('iss')!r}, not by this provider {issuer!r}"
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
        checked = consent_spec.verify_receipt(receipt, jwks.as_jwks(), issuer=issuer)
    except Exception as exc:  # consent_spec raises its own errors; report them as ours
        raise ConsentReceiptError(f"consent receipt rejected by consent_spec: {exc}") from exc
    return dict(checked) if isinstance(checked, Mapping) else claims
