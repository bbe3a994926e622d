"""The provider's signing keys: a JWKS cache and JWS verification that cannot be tricked.

Keys come from the ``jwks_uri`` in the provider's metadata (OIDC Discovery §3, RFC 7517).
When a token names a ``kid`` the cache does not know, the set is fetched again — providers
rotate keys (OIDC Core §10.1.1) — but at most once per ``min_refetch_interval`` seconds, so
a flood of tokens with invented ``kid`` values cannot make the RP hammer the provider.

Verification never accepts ``alg: none`` and only uses a key whose type fits the algorithm,
so an HMAC token "signed" with the provider's public RSA key is rejected (the classic
algorithm-confusion attack, RFC 8725 §2.1 and §3.1).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
import requests

from client_sdk.errors import DiscoveryError

#: Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037) and the JWK ``kty`` each needs.
ASYMMETRIC_ALGS: dict[str, str] = {
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
    "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
    "ES256": "EC", "ES384": "EC", "ES512": "EC",
    "EdDSA": "OKP",
}
#: Symmetric algorithms; OIDC Core §10.1 keys them with the client secret, never a JWK.
HMAC_ALGS: frozenset[str] = frozenset({"HS256", "HS384", "HS512"})
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


class KeyNotFoundError(Exception):
    """No key in the provider's JWKS fits a token's ``kid`` and ``alg`` (even after a refetch)."""


def b64url_json(segment: str) -> Any:
    """Decode one base64url JWS segment holding JSON (RFC 7515 §2)."""
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def unverified_header(token: str) -> dict[str, Any]:
    """Return a compact JWS's protected header without verifying anything.

    Raises ``ValueError`` when the token is not a three-part compact JWS.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) == 5:
        raise ValueError("token is a JWE (encrypted); this client does not decrypt tokens")
    if len(parts) != 3:
        raise ValueError("token is not a compact JWS (expected three dot-separated parts)")
    try:
        header = b64url_json(parts[0])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"token header is not base64url JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ValueError("token header is not a JSON object")
    return header


def _key_fits(jwk: dict[str, Any], alg: str) -> bool:
    """True when ``jwk`` may verify a signature made with ``alg`` (RFC 7517 §4)."""
    if jwk.get("kty") != ASYMMETRIC_ALGS.get(alg):
        return False
    if jwk.get("use") not in (None, "sig"):
        return False
    if "key_ops" in jwk and "verify" not in jwk["key_ops"]:
        return False
    if jwk.get("alg") not in (None, alg):
        return False
    return not (alg in _EC_CURVES and jwk.get("crv") != _EC_CURVES[alg])


class JWKSCache:
    """Thread-safe cache of one provider's JSON Web Key Set.

    Args:
        session: the ``requests.Session`` used to fetch the set.
        jwks_uri: the URL, or a callable returning it (so it can follow fresh metadata).
        ttl: seconds a fetched set stays fresh even when every ``kid`` is known.
        min_refetch_interval: minimum seconds between two fetches; an unknown ``kid`` seen
            sooner than this after the last fetch is rejected without contacting the provider.
        clock: monotonic time source (tests inject their own).
        timeout: HTTP timeout in seconds.
    """

    def __init__(
        self,
        session: requests.Session,
        jwks_uri: str | Callable[[], str],
        *,
        ttl: float = 3600.0,
        min_refetch_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._jwks_uri = jwks_uri
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self._clock = clock
        self._timeout = timeout
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = []
        self._fetched_at: float | None = None
        #: number of HTTP fetches made so far (useful to monitor refetch storms)
        self.fetch_count = 0

    def _uri(self) -> str:
        return self._jwks_uri() if callable(self._jwks_uri) else self._jwks_uri

    def _fetch_locked(self) -> None:
        uri = self._uri()
        self.fetch_count += 1
        # Record the attempt before the request, so a failing provider is not retried
        # by every incoming token either.
        self._fetched_at = self._clock()
        try:
            response = self._session.get(
                uri, timeout=self._timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise DiscoveryError(f"could not fetch the provider's JWKS from {uri}: {exc}") from exc
        if response.status_code != 200:
            raise DiscoveryError(
                f"JWKS at {uri} answered HTTP {response.status_code}, expected 200"
            )
        try:
            document = response.json()
        except ValueError as exc:
            raise DiscoveryError(f"JWKS at {uri} is not JSON: {exc}") from exc
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise DiscoveryError(f"JWKS at {uri} has no 'keys' array (RFC 7517 §5)")
        self._keys = [k for k in keys if isinstance(k, dict)]

    def keys(self) -> list[dict[str, Any]]:
        """Return the current key set, fetching it when empty or older than ``ttl``."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self.ttl:
                self._fetch_locked()
            return list(self._keys)

    def as_jwks(self) -> dict[str, Any]:
        """Return the current key set as a JWKS document ``{"keys": [...]}``."""
        return {"keys": self.keys()}

    def _candidates(self, kid: str | None, alg: str) -> list[dict[str, Any]]:
        fitting = [k for k in self._keys if _key_fits(k, alg)]
        if kid is not None:
            return [k for k in fitting if k.get("kid") == kid]
        return fitting

    def find(self, kid: str | None, alg: str) -> list[dict[str, Any]]:
        """Return the JWKs that may verify a token with this ``kid`` and ``alg``.

        Refetches once (subject to ``min_refetch_interval``) when nothing fits: the provider
        may have rotated its keys.  Raises :class:`KeyNotFoundError` when still nothing fits.
        """
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self.ttl:
                self._fetch_locked()
            found = self._candidates(kid, alg)
            if found:
                return found
            since = self._clock() - (self._fetched_at or 0.0)
            if since < self.min_refetch_interval:
                raise KeyNotFoundError(
                    f"no {alg} key with kid {kid!r} in the provider's JWKS; the set was "
                    f"fetched {since:.0f}s ago, so it is not fetched again yet "
                    f"(min_refetch_interval={self.min_refetch_interval:.0f}s)"
                )
            self._fetch_locked()
            found = self._candidates(kid, alg)
            if not found:
                raise KeyNotFoundError(
                    f"no {alg} key with kid {kid!r} in the provider's JWKS, even after "
                    "fetching it again"
                )
            return found


def verify_jws(
    token: str,
    *,
    jwks: JWKSCache | None,
    allowed_algs: Iterable[str],
    hmac_secret: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS and return ``(header, payload)``; the payload must be a JSON object.

    Only algorithms in ``allowed_algs`` are accepted; ``none`` never is.  HMAC algorithms are
    verified with ``hmac_secret`` only (OIDC Core §10.1), asymmetric ones with a JWK whose
    ``kty``/``crv`` fit the algorithm.  Raises ``ValueError`` (bad token or signature) or
    :class:`KeyNotFoundError`.
    """
    header = unverified_header(token)
    alg = header.get("alg")
    allowed = {a for a in allowed_algs if a != "none"}
    if not isinstance(alg, str) or alg == "none":
        raise ValueError("token is unsigned (alg 'none'); unsigned tokens are never accepted")
    if alg not in allowed:
        raise ValueError(f"token alg {alg!r} is not allowed here (allowed: {sorted(allowed)})")
    if alg in HMAC_ALGS:
        if not hmac_secret:
            raise ValueError(f"token alg {alg!r} needs the client secret, and there is none")
        keys: list[Any] = [hmac_secret.encode("utf-8")]
    elif alg in ASYMMETRIC_ALGS:
        if jwks is None:
            raise ValueError("no JWKS available to verify an asymmetric signature")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise ValueError("token header 'kid' is not a string")
        keys = [jwt.PyJWK(k, algorithm=alg).key for k in jwks.find(kid, alg)]
    else:
        raise ValueError(f"token alg {alg!r} is not supported")
    last_error: Exception | None = None
    for key in keys:
        try:
            decoded = jwt.api_jws.decode_complete(token, key=key, algorithms=[alg])
        except jwt.InvalidSignatureError as exc:
            last_error = exc
            continue
        except jwt.PyJWTError as exc:
            raise ValueError(f"token could not be verified: {exc}") from exc
        try:
            payload = json.loads(decoded["payload"])
        except ValueError as exc:
            raise ValueError(f"token payload is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise ValueError("token payload is not a JSON object")
        return header, payload
    raise ValueError(f"token signature is invalid ({last_error})")
