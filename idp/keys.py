"""Signing keys: generation, encryption at rest, rotation and the JWKS (RFC 7517).

Porta keeps one active ES256 (P-256) and one active RS256 (RSA-2048) key.
``porta keys rotate`` adds a new active pair; the previous keys stay in the
JWKS and keep verifying until ``porta keys retire KID``. Private keys are
encrypted with AES-256-GCM under a key derived by HKDF-SHA256 from
``PORTA_SECRET_KEY``, so a database dump alone does not leak them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idp.base.clock import now
from idp.base.encoding import b64url
from idp.storage import Store
from idp.storage.models import SigningKey

ALGORITHMS = ("ES256", "RS256")


def _wrapping_key(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"porta-signing-keys", info=b"aes-256-gcm"
    ).derive(secret_key.encode("utf-8"))


def encrypt_private_key(pem: bytes, secret_key: str, kid: str) -> bytes:
    """AES-GCM encrypt a PEM private key; the ``kid`` is bound as associated data."""
    nonce = os.urandom(12)
    return nonce + AESGCM(_wrapping_key(secret_key)).encrypt(nonce, pem, kid.encode())


class KeyDecryptionError(RuntimeError):
    """A stored private key cannot be decrypted: PORTA_SECRET_KEY is not the one it was made with."""


def decrypt_private_key(blob: bytes, secret_key: str, kid: str) -> bytes:
    """Reverse of :func:`encrypt_private_key`; fails loudly with the wrong secret."""
    try:
        return AESGCM(_wrapping_key(secret_key)).decrypt(blob[:12], blob[12:], kid.encode())
    except InvalidTag as exc:
        raise KeyDecryptionError(
            f"signing key {kid} cannot be decrypted with this PORTA_SECRET_KEY: the keys in "
            "this database were encrypted under another secret. Start Porta with the "
            "SECRET_KEY the keys were created with."
        ) from exc


def check_secret(store: Store, secret_key: str) -> None:
    """Raise :class:`KeyDecryptionError` unless every published key decrypts with ``secret_key``."""
    for key in store.list_keys():
        decrypt_private_key(key.private_key_encrypted, secret_key, key.kid)


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint, used as the ``kid``."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[public_jwk["kty"]]
    canonical = json.dumps({k: public_jwk[k] for k in members}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def generate_key(alg: str, secret_key: str) -> SigningKey:
    """A fresh key pair for ``alg`` as a storable row."""
    if alg == "ES256":
        private: Any = ec.generate_private_key(ec.SECP256R1())
        algo: Any = jwt.algorithms.ECAlgorithm
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        algo = jwt.algorithms.RSAAlgorithm
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    public_jwk = json.loads(algo.to_jwk(private.public_key()))
    kid = _thumbprint(public_jwk)
    public_jwk.pop("key_ops", None)
    public_jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=kid,
        alg=alg,
        private_key_encrypted=encrypt_private_key(pem, secret_key, kid),
        public_jwk=public_jwk,
        created_at=now(),
        active=True,
    )


def ensure_keys(store: Store, secret_key: str) -> None:
    """Generate an active key for every algorithm that has none (first start).

    Refuses a ``secret_key`` that cannot decrypt the keys already stored, so a
    misconfigured start fails at once instead of on every request.
    """
    check_secret(store, secret_key)
    active = {key.alg for key in store.list_keys() if key.active}
    for alg in ALGORITHMS:
        if alg not in active:
            store.add_key(generate_key(alg, secret_key))


def rotate_keys(store: Store, secret_key: str) -> list[SigningKey]:
    """Add a new active key for every algorithm; old keys keep verifying.

    With the wrong ``secret_key`` nothing is added: keys encrypted under two
    different secrets would leave the provider unable to load its key ring.
    """
    check_secret(store, secret_key)
    fresh = [generate_key(alg, secret_key) for alg in ALGORITHMS]
    for key in fresh:
        store.add_key(key)
    return fresh


@dataclass(frozen=True)
class LoadedKey:
    """A key ready for use: kid, algorithm, public JWK and (for active keys) the private key."""

    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_key: Any
    public_key: Any
    active: bool


class KeyRing:
    """The published keys of this provider, cached per worker for a short while."""

    def __init__(self, load_store: Any, secret_key: str, cache_seconds: int) -> None:
        self._load_store = load_store
        self._secret_key = secret_key
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._keys: list[LoadedKey] = []
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        """Forget the cache (after a rotation in this process)."""
        with self._lock:
            self._loaded_at = 0.0

    def _refresh(self) -> list[LoadedKey]:
        with self._lock:
            if self._keys and time.monotonic() - self._loaded_at < self._cache_seconds:
                return self._keys
            store = self._load_store()
            try:
                rows = store.list_keys()
            finally:
                store.close()
            loaded = []
            for row in rows:
                pem = decrypt_private_key(row.private_key_encrypted, self._secret_key, row.kid)
                private = serialization.load_pem_private_key(pem, password=None)
                loaded.append(
                    LoadedKey(
                        kid=row.kid,
                        alg=row.alg,
                        public_jwk=dict(row.public_jwk),
                        private_key=private,
                        public_key=private.public_key(),
                        active=row.active,
                    )
                )
            self._keys = loaded
            self._loaded_at = time.monotonic()
            return loaded

    def signing_key(self, alg: str) -> LoadedKey:
        """The active key for ``alg``."""
        for key in self._refresh():
            if key.alg == alg and key.active:
                return key
        raise LookupError(f"no active {alg} signing key")

    def by_kid(self, kid: str) -> LoadedKey | None:
        """A published key by ``kid``."""
        for key in self._refresh():
            if key.kid == kid:
                return key
        return None

    def jwks(self) -> dict[str, Any]:
        """The JWK Set document (RFC 7517 §5): public parts only."""
        return {"keys": [key.public_jwk for key in self._refresh()]}

    def sign(self, claims: dict[str, Any], alg: str, typ: str | None = None) -> str:
        """A JWS over ``claims`` with the active key for ``alg``."""
        key = self.signing_key(alg)
        headers = {"kid": key.kid}
        if typ:
            headers["typ"] = typ
        return jwt.encode(claims, key.private_key, algorithm=alg, headers=headers)

    def verify(
        self, token: str, *, typ: str | None = None, verify_exp: bool = True, **options: Any
    ) -> dict[str, Any]:
        """Verify a JWS this provider signed; only ES256/RS256 and only our own keys.

        The algorithm is taken from the key, never from the token header, so
        ``alg: none`` and HS256-with-a-public-key tokens cannot pass (RFC 8725 §3.1).
        Raises ``jwt.InvalidTokenError`` on any failure.
        """
        header = jwt.get_unverified_header(token)
        key = self.by_kid(str(header.get("kid", "")))
        if key is None:
            raise jwt.InvalidTokenError("unknown key id")
        if header.get("alg") != key.alg:
            raise jwt.InvalidAlgorithmError("algorithm does not match the key")
        if typ is not None and str(header.get("typ", "")).lower() != typ:
            raise jwt.InvalidTokenError(f"typ must be {typ}")
        return jwt.decode(
            token,
            key.public_key,
            algorithms=[key.alg],
            options={"verify_exp": verify_exp, "verify_aud": "audience" in options},
            **options,
        )
