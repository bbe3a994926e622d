"""Signing keys: generation, encryption at rest, rotation without a window, and the JWKS
(RFC 7517).

Porta keeps one signing ES256 (P-256) and one signing RS256 (RSA-2048) key. A rotation
(``porta keys rotate``, or the pump every ``PORTA_KEY_ROTATION_DAYS``) *publishes* a new
pair at once and lets it *sign* only ``PORTA_KEY_PUBLISH_SECONDS`` later, at least one
cache lifetime of every JWKS copy (each worker's key cache and the relying parties'
``max-age``), so nobody meets a ``kid`` they could not have seen — the key rollover RFC 7517
§5 leaves to the publisher and OIDC Core §10.1.1 describes. A worker that still meets an
unknown ``kid`` (another host switched first, its clock a little ahead) reloads the keys
from the database once: single-flight, at most once per :data:`UNKNOWN_KID_RELOAD_SECONDS`.
Superseded keys keep verifying until every token they signed has expired, then are retired:
gone from the JWKS, still served at ``retired_jwks_uri`` for consent receipts (consent_spec
SPEC.md §12.4). ``porta keys revoke KID`` is the emergency exit: every verification checks
the database, so what the key signed is refused at once by every worker and host.

Private keys are encrypted with AES-256-GCM under a key derived by HKDF-SHA256 from
``PORTA_SECRET_KEY``, so a database dump alone does not leak them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
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
# A token with a kid this worker does not know makes it re-read the keys at most this often:
# enough to follow a rotation at once, too rare for forged kids to hammer the database.
UNKNOWN_KID_RELOAD_SECONDS = 1.0


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


def generate_key(alg: str, secret_key: str, sign_from: datetime | None = None) -> SigningKey:
    """A fresh key pair for ``alg`` as a storable row, published now and signing from
    ``sign_from`` (default: now)."""
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
    created = now()
    return SigningKey(
        kid=kid,
        alg=alg,
        private_key_encrypted=encrypt_private_key(pem, secret_key, kid),
        public_jwk=public_jwk,
        created_at=created,
        sign_from=sign_from or created,
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


def rotate_keys(store: Store, secret_key: str, publish_seconds: int) -> list[SigningKey]:
    """Publish a new key for every algorithm, signing ``publish_seconds`` from now; until then
    the current keys keep signing, and afterwards they keep verifying.

    With the wrong ``secret_key`` nothing is added: keys encrypted under two
    different secrets would leave the provider unable to load its key ring.
    """
    check_secret(store, secret_key)
    sign_from = now() + timedelta(seconds=publish_seconds)
    fresh = [generate_key(alg, secret_key, sign_from) for alg in ALGORITHMS]
    for key in fresh:
        store.add_key(key)
    store.audit("keys_rotated", kids=[key.kid for key in fresh], sign_from=sign_from.isoformat())
    return fresh


def current_signer(keys: list[Any], alg: str, moment: datetime) -> Any | None:
    """Of ``keys`` (rows or LoadedKeys), the one that signs ``alg`` at ``moment``: the latest
    ``sign_from`` that has come. Every worker computes the same answer from the same rows."""
    due = [key for key in keys if key.alg == alg and key.sign_from <= moment]
    return max(due, key=lambda key: key.sign_from, default=None)


def rotate_if_due(store: Store, secret_key: str, settings: Any) -> list[SigningKey]:
    """The scheduled rotation (``PORTA_KEY_ROTATION_DAYS``), run by every server's pump.

    A new key is added only when the newest key of its algorithm is older than the period,
    and only by the one worker whose conditional update claims that newest key.
    """
    if settings.key_rotation_days <= 0:
        return []
    moment = now()
    due_before = moment - timedelta(days=settings.key_rotation_days)
    sign_from = moment + timedelta(seconds=settings.key_publish_seconds)
    added = []
    for newest in store.list_keys():
        if newest.active and newest.created_at <= due_before:
            check_secret(store, secret_key)
            key = generate_key(newest.alg, secret_key, sign_from)
            if store.add_key_after(key, newest.kid):
                added.append(key)
    return added


def longest_token_lifetime(settings: Any) -> int:
    """How long a token signed now can still be presented, in seconds (ID and access tokens;
    refresh tokens and codes are opaque and carry no signature)."""
    return max(settings.access_token_ttl, settings.id_token_ttl)


def retire_superseded(store: Store, after_seconds: int) -> list[str]:
    """Retire keys that stopped signing more than ``after_seconds`` ago: every token they
    signed has expired. They stay in the retired JWKS for receipts (SPEC.md §12.4)."""
    moment = now()
    retired = []
    keys = store.list_keys()
    for alg in ALGORITHMS:
        ordered = sorted((k for k in keys if k.alg == alg), key=lambda k: k.sign_from)
        for key, successor in itertools.pairwise(ordered):
            stopped = successor.sign_from  # the moment the successor took over
            expired = stopped + timedelta(seconds=after_seconds) <= moment
            if not key.active and expired and store.retire_key(key.kid):
                retired.append(key.kid)
    return retired


def maintain_keys(store: Store, secret_key: str, settings: Any) -> tuple[list[SigningKey], list[str]]:
    """One pump round of key upkeep: the scheduled rotation, then retirement."""
    added = rotate_if_due(store, secret_key, settings)
    retired = retire_superseded(store, longest_token_lifetime(settings))
    return added, retired


def revoke_key(store: Store, secret_key: str, kid: str) -> list[SigningKey]:
    """Emergency revocation of ``kid``: it verifies nothing from now on, on every host.

    If it was signing (or about to), its algorithm must keep a signer at once: a published
    key waiting for its turn starts signing now, or else a new key is made that signs now
    (no publishing window: relying parties meet its kid first and must fetch the JWKS again,
    as OIDC Core §10.1.1 has them do). Returns the keys added.
    """
    check_secret(store, secret_key)
    revoked = store.revoke_key(kid)
    if revoked is None:
        raise LookupError(f"no unrevoked key {kid}")
    store.flush()
    moment = now()
    remaining = [key for key in store.list_keys() if key.alg == revoked.alg]
    added = []
    if not any(key.active for key in remaining):
        fresh = generate_key(revoked.alg, secret_key, moment)
        store.add_key(fresh)
        added.append(fresh)
    elif current_signer(remaining, revoked.alg, moment) is None:
        newest = max(remaining, key=lambda key: key.sign_from)
        store.sign_now(newest.kid, moment)
    return added


@dataclass(frozen=True)
class LoadedKey:
    """A key ready for use: kid, algorithm, public JWK, private key and when it signs."""

    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_key: Any
    public_key: Any
    active: bool
    created_at: datetime
    sign_from: datetime


class KeyRing:
    """The published keys of this provider, cached per worker for a short while.

    Which key signs is decided by the clock against each key's ``sign_from``, so every worker
    switches at the same moment without talking to the others. A ``kid`` missing from the
    cache makes the ring reload once (single-flight: concurrent misses share one reload;
    rate-limited: at most one forced reload per :data:`UNKNOWN_KID_RELOAD_SECONDS`).
    """

    def __init__(self, load_store: Any, secret_key: str, cache_seconds: int) -> None:
        self._load_store = load_store
        self._secret_key = secret_key
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._keys: list[LoadedKey] = []
        self._loaded_at = 0.0
        self._forced_at = float("-inf")
        self.loads = 0  # how many times this ring read the key table (metrics, tests)

    def invalidate(self) -> None:
        """Forget the cache (after a rotation in this process)."""
        with self._lock:
            self._loaded_at = 0.0

    def _load(self) -> list[LoadedKey]:
        """Read the published keys from the database; the caller holds the lock."""
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
                    created_at=row.created_at,
                    sign_from=row.sign_from,
                )
            )
        self._keys = loaded
        self._loaded_at = time.monotonic()
        self.loads += 1
        return loaded

    def _refresh(self) -> list[LoadedKey]:
        with self._lock:
            if self._keys and time.monotonic() - self._loaded_at < self._cache_seconds:
                return self._keys
            return self._load()

    def _reload_for(self, kid: str) -> LoadedKey | None:
        """Reload once for an unknown ``kid``; None if it is still unknown afterwards."""
        seen = self.loads
        with self._lock:
            if self.loads == seen:  # nobody reloaded while this thread waited for the lock
                if time.monotonic() - self._forced_at < UNKNOWN_KID_RELOAD_SECONDS:
                    return None
                self._forced_at = time.monotonic()
                self._load()
            keys = self._keys
        return next((key for key in keys if key.kid == kid), None)

    def signing_key(self, alg: str, store: Store | None = None) -> LoadedKey:
        """The key that signs ``alg`` now. With ``store``, a key revoked since this worker
        loaded it is noticed at once and the keys are read again."""
        key = current_signer(self._refresh(), alg, now())
        if key is not None and store is not None and store.key_revoked(key.kid):
            self.invalidate()
            key = current_signer(self._refresh(), alg, now())
        if key is None:
            raise LookupError(f"no {alg} signing key")
        return key

    def by_kid(self, kid: str) -> LoadedKey | None:
        """A published key by ``kid``, reloading once if this worker has not seen it yet."""
        for key in self._refresh():
            if key.kid == kid:
                return key
        return self._reload_for(kid)

    def jwks(self) -> dict[str, Any]:
        """The JWK Set document (RFC 7517 §5): public parts of every published key, including
        keys that will sign soon and keys that signed until lately."""
        return {"keys": [key.public_jwk for key in self._refresh()]}

    def loaded(self) -> list[LoadedKey]:
        """The published keys as this worker sees them (health checks, metrics)."""
        return list(self._refresh())

    def sign(
        self,
        claims: dict[str, Any],
        alg: str,
        typ: str | None = None,
        *,
        store: Store | None = None,
    ) -> str:
        """A JWS over ``claims`` with the key that signs ``alg`` now (see :meth:`signing_key`
        for ``store``)."""
        key = self.signing_key(alg, store)
        headers = {"kid": key.kid}
        if typ:
            headers["typ"] = typ
        return jwt.encode(claims, key.private_key, algorithm=alg, headers=headers)

    def verify(
        self,
        token: str,
        *,
        store: Store,
        typ: str | None = None,
        verify_exp: bool = True,
        **options: Any,
    ) -> dict[str, Any]:
        """Verify a JWS this provider signed; only ES256/RS256 and only our own keys.

        The algorithm is taken from the key, never from the token header, so
        ``alg: none`` and HS256-with-a-public-key tokens cannot pass (RFC 8725 §3.1).
        ``store`` is asked whether the key was revoked, so a ``porta keys revoke`` holds
        at once on every worker whatever its cache says.
        Raises ``jwt.InvalidTokenError`` on any failure.
        """
        header = jwt.get_unverified_header(token)
        kid = str(header.get("kid", ""))
        key = self.by_kid(kid)
        if key is None:
            raise jwt.InvalidTokenError("unknown key id")
        if store.key_revoked(kid):
            self.invalidate()  # and stop signing with it here too
            raise jwt.InvalidTokenError("the signing key was revoked")
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
