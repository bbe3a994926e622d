"""ID token validation, step by step as OpenID Connect Core 1.0 §3.1.3.7 lists it.

Each numbered step of §3.1.3.7 is one check below, named after it, so a reader holding the
spec can follow along.  §3.1.3.8 adds the ``at_hash`` check and §12.2 the rules for ID tokens
returned by a refresh.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from client_sdk.errors import IDTokenError
from client_sdk.jwks import JWKSCache, KeyNotFoundError, verify_jws

_HASH_FOR_ALG = {
    "256": hashlib.sha256,
    "384": hashlib.sha384,
    "512": hashlib.sha512,
}


def token_hash(value: str, alg: str) -> str:
    """Compute ``at_hash``/``c_hash`` for ``value`` (OIDC Core §3.1.3.6, §3.3.2.11).

    Hash the ASCII octets with the hash of the JWS ``alg`` (SHA-512 for EdDSA with Ed25519),
    keep the left-most half, and base64url-encode it without padding.
    """
    if alg == "EdDSA":
        digest_fn = hashlib.sha512
    else:
        digest_fn = _HASH_FOR_ALG.get(alg[-3:])
        if digest_fn is None:
            raise IDTokenError(f"cannot compute a token hash for alg {alg!r}")
    digest = digest_fn(value.encode("ascii")).digest()
    half = digest[: len(digest) // 2]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class IDTokenExpectations:
    """What the RP expects of an ID token; built by :class:`client_sdk.Client`.

    Attributes:
        issuer: the provider's issuer identifier (exact string match, §3.1.3.7 step 2).
        client_id: this RP's client_id (steps 3 and 5).
        allowed_algs: the JWS algorithms the client accepts (steps 6-8); never ``none``.
        nonce: the nonce sent in the authentication request, if any (step 11).
        max_age: the ``max_age`` sent, if any (step 13).
        trusted_audiences: other audiences the RP trusts besides itself (step 3).
        leeway: seconds of clock skew tolerated for ``exp``/``iat``/``auth_time``.
        max_iat_age: an ``iat`` older than this many seconds is rejected (step 10).
        access_token: when given and the token carries ``at_hash``, it is checked (§3.1.3.8).
        client_secret: key for HS256/384/512 ID tokens (OIDC Core §10.1).
    """

    issuer: str
    client_id: str
    allowed_algs: frozenset[str]
    nonce: str | None = None
    max_age: int | None = None
    trusted_audiences: frozenset[str] = field(default_factory=frozenset)
    leeway: int = 60
    max_iat_age: int = 600
    access_token: str | None = None
    client_secret: str | None = None


def _fail(step: str, why: str) -> IDTokenError:
    return IDTokenError(f"ID token rejected ({step}): {why}")


def validate_id_token(
    id_token: str,
    expect: IDTokenExpectations,
    jwks: JWKSCache | None,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Validate ``id_token`` per OIDC Core §3.1.3.7 and return its claims.

    Raises :class:`IDTokenError` naming the failed step.
    """
    now = time.time() if now is None else now
    # Steps 6-8: the signature, with an algorithm from the allow-list.  It is checked before
    # any claim is trusted; the claim checks below read only verified data.
    try:
        header, claims = verify_jws(
            id_token,
            jwks=jwks,
            allowed_algs=expect.allowed_algs,
            hmac_secret=expect.client_secret,
        )
    except KeyNotFoundError as exc:
        raise _fail("§3.1.3.7 step 6, signing key", str(exc)) from exc
    except ValueError as exc:
        raise _fail("§3.1.3.7 steps 1 and 6-8, signature", str(exc)) from exc

    _check_issuer(claims, expect)
    _check_audience(claims, expect)
    _check_authorized_party(claims, expect)
    _check_expiry(claims, expect, now)
    _check_issued_at(claims, expect, now)
    _check_nonce(claims, expect)
    _check_auth_time(claims, expect, now)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _fail("§2 sub", "the 'sub' claim is missing or not a string")
    if expect.access_token is not None and "at_hash" in claims:
        _check_at_hash(claims, header["alg"], expect.access_token)
    return claims


def _check_issuer(claims: Mapping[str, Any], expect: IDTokenExpectations) -> None:
    """Step 2: ``iss`` MUST exactly match the provider's issuer identifier."""
    if claims.get("iss") != expect.issuer:
        raise _fail(
            "§3.1.3.7 step 2, iss",
            f"issuer {claims.get('iss')!r} is not the provider's issuer {expect.issuer!r}",
        )


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    raise _fail("§3.1.3.7 step 3, aud", "the 'aud' claim is missing or malformed")


def _check_audience(claims: Mapping[str, Any], expect: IDTokenExpectations) -> None:
    """Step 3: ``aud`` MUST contain the client_id and no audience the RP does not trust."""
    audiences = _audiences(claims)
    if expect.client_id not in audiences:
        raise _fail(
            "§3.1.3.7 step 3, aud",
            f"audience {audiences!r} does not include this client {expect.client_id!r}",
        )
    untrusted = set(audiences) - {expect.client_id} - set(expect.trusted_audiences)
    if untrusted:
        raise _fail(
            "§3.1.3.7 step 3, aud",
            f"audience includes parties this client does not trust: {sorted(untrusted)}",
        )


def _check_authorized_party(claims: Mapping[str, Any], expect: IDTokenExpectations) -> None:
    """Steps 4-5: with several audiences ``azp`` should be present; if present, it is us."""
    audiences = _audiences(claims)
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise _fail("§3.1.3.7 step 4, azp", "several audiences but no 'azp' claim")
    if azp is not None and azp != expect.client_id:
        raise _fail(
            "§3.1.3.7 step 5, azp",
            f"authorized party {azp!r} is not this client {expect.client_id!r}",
        )


def _number(claims: Mapping[str, Any], name: str, step: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(step, f"the '{name}' claim is missing or not a number")
    return float(value)


def _check_expiry(claims: Mapping[str, Any], expect: IDTokenExpectations, now: float) -> None:
    """Step 9: the current time MUST be before ``exp`` (with a small leeway for skew)."""
    exp = _number(claims, "exp", "§3.1.3.7 step 9, exp")
    if now >= exp + expect.leeway:
        raise _fail("§3.1.3.7 step 9, exp", f"token expired {int(now - exp)}s ago")


def _check_issued_at(claims: Mapping[str, Any], expect: IDTokenExpectations, now: float) -> None:
    """Step 10: ``iat`` must be neither in the future nor too far in the past."""
    iat = _number(claims, "iat", "§3.1.3.7 step 10, iat")
    if iat > now + expect.leeway:
        raise _fail(
            "§3.1.3.7 step 10, iat",
            f"token issued {int(iat - now)}s in the future (leeway {expect.leeway}s); "
            "check the provider's and this machine's clocks",
        )
    if now - iat > expect.max_iat_age + expect.leeway:
        raise _fail(
            "§3.1.3.7 step 10, iat",
            f"token issued {int(now - iat)}s ago, more than max_iat_age={expect.max_iat_age}s",
        )


def _check_nonce(claims: Mapping[str, Any], expect: IDTokenExpectations) -> None:
    """Step 11: if a nonce was sent, the ``nonce`` claim MUST equal it."""
    if expect.nonce is None:
        return
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode("utf-8"), expect.nonce.encode("utf-8")
    ):
        raise _fail(
            "§3.1.3.7 step 11, nonce",
            "the 'nonce' claim does not match the nonce of this authentication request "
            "(possible replay)",
        )


def _check_auth_time(claims: Mapping[str, Any], expect: IDTokenExpectations, now: float) -> None:
    """Step 13: with ``max_age``, ``auth_time`` MUST be present and recent enough."""
    if expect.max_age is None:
        return
    auth_time = _number(claims, "auth_time", "§3.1.3.7 step 13, auth_time")
    if now - auth_time > expect.max_age + expect.leeway:
        raise _fail(
            "§3.1.3.7 step 13, auth_time",
            f"the person authenticated {int(now - auth_time)}s ago, more than "
            f"max_age={expect.max_age}s; ask for a fresh login",
        )


def _check_at_hash(claims: Mapping[str, Any], alg: str, access_token: str) -> None:
    """§3.1.3.8: ``at_hash`` MUST equal the hash of the access token received with it."""
    expected = token_hash(access_token, alg)
    at_hash = claims.get("at_hash")
    if not isinstance(at_hash, str) or not hmac.compare_digest(at_hash, expected):
        raise _fail(
            "§3.1.3.8, at_hash",
            "'at_hash' does not match the access token returned with this ID token",
        )


def check_refreshed_id_token(
    new: Mapping[str, Any], original: Mapping[str, Any]
) -> None:
    """OIDC Core §12.2: a refreshed ID token keeps ``iss``, ``sub``, ``aud``, ``auth_time``."""
    for name in ("iss", "sub"):
        if new.get(name) != original.get(name):
            raise _fail(f"§12.2, {name}", f"'{name}' changed from {original.get(name)!r}")
    if set(_audiences(new)) != set(_audiences(original)):
        raise _fail("§12.2, aud", "'aud' differs from the original ID token")
    if "auth_time" in original and new.get("auth_time") not in (None, original["auth_time"]):
        raise _fail("§12.2, auth_time", "'auth_time' differs from the original ID token")


def allowed_id_token_algs(
    registered_alg: str | None, provider_supported: Iterable[str] | None
) -> frozenset[str]:
    """The allow-list for ID token ``alg`` (OIDC Core §3.1.3.7 step 7, Registration §2).

    When the client registered ``id_token_signed_response_alg``, only that algorithm.
    Otherwise the asymmetric algorithms the provider advertises (never ``none``, never HMAC,
    which would need a registered choice); RS256 when the provider advertises nothing.
    """
    from client_sdk.jwks import ASYMMETRIC_ALGS, HMAC_ALGS

    if registered_alg:
        if registered_alg == "none":
            raise IDTokenError("id_token_signed_response_alg 'none' is never accepted")
        if registered_alg not in ASYMMETRIC_ALGS and registered_alg not in HMAC_ALGS:
            raise IDTokenError(f"unsupported id_token_signed_response_alg {registered_alg!r}")
        return frozenset({registered_alg})
    advertised = {a for a in (provider_supported or []) if a in ASYMMETRIC_ALGS}
    return frozenset(advertised or {"RS256"})
