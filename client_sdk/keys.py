"""The client's own signing key, for ``private_key_jwt`` (OIDC Core §9, RFC 7523).

:func:`load_private_key` accepts a JWK dict, a PEM string or bytes, or a ``cryptography``
private key object, and works out the JWS algorithm and a ``kid`` (the RFC 7638
thumbprint unless the JWK names one).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


class SigningKey(NamedTuple):
    """A private key with the JWS ``alg`` it signs with and the ``kid`` it is known by."""

    key: Any
    alg: str
    kid: str


def load_private_key(private_key: Any) -> SigningKey:
    """Turn a JWK dict, PEM or ``cryptography`` key into a :class:`SigningKey`."""
    if isinstance(private_key, Mapping):
        jwk = dict(private_key)
        pyjwk = jwt.PyJWK(jwk)
        key = pyjwk.key
        alg = jwk.get("alg") or pyjwk.algorithm_name
    else:
        if isinstance(private_key, str | bytes):
            data = private_key.encode() if isinstance(private_key, str) else private_key
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = private_key
        jwk = None
        alg = ""
    if isinstance(key, rsa.RSAPrivateKey):
        alg = alg or "RS256"
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        alg = alg or {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[
            key.curve.name
        ]
        public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = alg or "EdDSA"
        public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    else:
        raise TypeError("private_key must be an RSA, EC or Ed25519 private key (JWK, PEM or object)")
    kid = (jwk or {}).get("kid") or thumbprint(public_jwk)
    return SigningKey(key, alg, kid)


def thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """JWK thumbprint (RFC 7638 §3): SHA-256 of the required members in lexical order."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    members = {k: public_jwk[k] for k in required[public_jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(canonical).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwks(signing_key: SigningKey) -> dict[str, Any]:
    """The public half of the key as a JWKS, to register as ``jwks`` (RFC 7591 §2)."""
    key, alg, kid = signing_key
    algorithm = jwt.get_algorithm_by_name(alg)
    public = json.loads(algorithm.to_jwk(key.public_key()))
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    return {"keys": [public]}
