"""Client keys and client assertions for private_key_jwt (OIDC Core §9, RFC 7523 §3).

Also builds the malformed assertions the security plan sends on purpose: ``alg`` none
and HS256 keyed with the client's public key (the key-confusion attack of RFC 8725 §2.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""client_assertion_type for JWT client authentication (RFC 7523 §2.2)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class ClientKey:
    """An EC P-256 key pair the suite registers as a client's ``jwks``."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def generate(cls) -> ClientKey:
        """A fresh P-256 key with a random kid."""
        return cls(ec.generate_private_key(ec.SECP256R1()), kid=secrets.token_hex(8))

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517 §4) with kid, alg ES256 and use sig."""
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        """``{"keys": [public JWK]}`` for client registration (RFC 7591 §2, jwks)."""
        return {"keys": [self.public_jwk()]}

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (what a confused verifier HMACs with)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def assertion_claims(client_id: str, audience: str, jti: str | None = None) -> dict[str, Any]:
    """The claims OIDC Core §9 requires: iss = sub = client_id, aud, jti, exp, iat."""
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": audience,
            "jti": jti or secrets.token_urlsafe(16), "iat": now, "exp": now + 120}


def signed_assertion(key: ClientKey, client_id: str, audience: str, jti: str | None = None,
                     **override: Any) -> str:
    """A valid ES256 client assertion; ``override`` replaces claims (to build invalid ones)."""
    claims = {**assertion_claims(client_id, audience, jti), **override}
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})


def unsigned_assertion(client_id: str, audience: str) -> str:
    """An assertion with ``alg: none`` and an empty signature (RFC 7519 §6)."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(assertion_claims(client_id, audience)).encode())
    return f"{header}.{payload}."


def hs256_with_public_key(key: ClientKey, client_id: str, audience: str) -> str:
    """An HS256 assertion whose HMAC secret is the client's public key PEM (key confusion)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = _b64(json.dumps(assertion_claims(client_id, audience)).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"
