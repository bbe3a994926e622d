"""Opening an export (consent_spec SPEC.md §12.1, §12.3 steps 1-4 and 6): decrypt it, verify
its signature against the exporter's keys — or take an unsigned document as self-asserted —,
validate the document, its expiry, its ledger chain and every receipt. Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwcrypto import jwe, jwk
from jwcrypto.common import JWException
from jwt.exceptions import InvalidSignatureError, InvalidTokenError, PyJWKError

import consent_spec
from idp.base.clock import now
from idp.portability.common import (
    EXPORT_TYP,
    LEGACY_EXPORT_TYP,
    MAX_EXPORT_AGE_DAYS,
    ImportRefusedError,
)
from idp.portability.exports import PBES2_ALG, PBES2_ENC, PBES2_MAX_ITERATIONS

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_KTY_FOR_ALG = {"ES256": "EC", "ES384": "EC", "EdDSA": "OKP", "PS256": "RSA", "RS256": "RSA"}

FetchJwks = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class OpenedExport:
    """An export whose form, document, expiry, chain and receipts all checked out."""

    document: dict[str, Any]
    issuer: str  # exporter.issuer; proven by the signature only when ``signed``
    signed: bool
    token: str | None  # the signed export (JWS) as received, kept as history
    receipts: dict[str, str]  # record_id -> verified receipt
    jwks: dict[str, Any] | None  # the exporter's published keys (signed exports)

    @property
    def email(self) -> str | None:
        value = self.document["profile"].get("email")
        return value if isinstance(value, str) else None


# -- opening and verifying -------------------------------------------------------------------


def fetchable(url: Any) -> bool:
    """True for an ``https`` URL, or ``http`` on a loopback host (SPEC.md §3.3 https_url)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS)


def issuer_jwks(fetch_json: Callable[[str], Any], issuer: str) -> dict[str, Any]:
    """The JWK Set of ``issuer``: its discovery document (OIDC Discovery §4), then ``jwks_uri``,
    plus its retired keys (``retired_jwks_uri``, SPEC.md §12.4) when it publishes them.

    The discovery document must name the same issuer (Discovery §4.3), and the
    URLs must be https (or http on a loopback host). Raises ``ValueError``.
    """
    if not fetchable(issuer):
        raise ValueError("the issuer is not an https URL (or http on a loopback host)")
    config = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if not isinstance(config, dict) or config.get("issuer") != issuer:
        raise ValueError("the issuer's discovery document names another issuer")
    keys: list[Any] = []
    for member in ("jwks_uri", "retired_jwks_uri"):
        uri = config.get(member)
        if uri is None and member == "retired_jwks_uri":
            continue
        if not fetchable(uri):
            raise ValueError(f"the issuer's {member} is not an https URL")
        document = fetch_json(uri)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError(f"the issuer's {member} does not hold a JWK Set")
        keys.extend(document["keys"])
    return {"keys": keys}


def _select_key(jwks: dict[str, Any], alg: str, kid: Any, where: str = "header.kid"):
    """The public signing key named by ``kid`` that can verify ``alg`` (SPEC.md §7.3 step 5)."""
    if not isinstance(kid, str):
        raise ImportRefusedError(where, "the JWS header names no key (kid)")
    for key in jwks.get("keys", []):
        if not isinstance(key, dict) or key.get("kid") != kid:
            continue
        if key.get("kty") != _KTY_FOR_ALG.get(alg) or key.get("use", "sig") != "sig":
            continue
        if key.get("alg", alg) != alg or any(m in key for m in ("d", "p", "q", "k")):
            continue
        return key
    raise ImportRefusedError(where, f"the signer publishes no {alg} signing key with kid {kid!r}")


def verify_jws(token: str, jwks: dict[str, Any], where: str) -> dict[str, Any]:
    """The payload of a JWS that verifies with a key of ``jwks`` (algorithm from the key)."""
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        raise ImportRefusedError(where, "the JWS header cannot be read") from exc
    alg = header.get("alg")
    if alg not in consent_spec.ALLOWED_ALGORITHMS:
        raise ImportRefusedError(where, f"algorithm {alg!r} is not allowed")
    if "crit" in header:
        raise ImportRefusedError(where, "critical header parameters are not supported")
    key = _select_key(jwks, alg, header.get("kid"), "header.kid" if where == "header" else where)
    try:
        return jwt.decode(
            token,
            key=jwt.PyJWK(key, algorithm=alg),
            algorithms=[alg],
            options={
                "verify_aud": False,
                "verify_iss": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except PyJWKError as exc:
        raise ImportRefusedError(where, "the signer's key is unusable") from exc
    except InvalidSignatureError as exc:
        raise ImportRefusedError(
            "signature" if where == "header" else where,
            "the signature does not verify with the signer's keys: the document was changed "
            "after it was signed, or was not signed by that provider",
        ) from exc
    except InvalidTokenError as exc:
        raise ImportRefusedError(where, "the signed payload is not a JSON object") from exc


def _decrypt(token: str, passphrase: str | None) -> str:
    """The signed export inside an encrypted one (SPEC.md §12.1 form 1)."""
    try:
        envelope = jwe.JWE()
        envelope.deserialize(token)
        header = envelope.jose_header
    except (JWException, ValueError) as exc:
        raise ImportRefusedError("header", "the encrypted export cannot be read") from exc
    if header.get("alg") != PBES2_ALG or header.get("enc") != PBES2_ENC:
        raise ImportRefusedError(
            "header.alg", f"an encrypted export must use {PBES2_ALG} with {PBES2_ENC}"
        )
    if not isinstance(header.get("p2c"), int) or header["p2c"] > PBES2_MAX_ITERATIONS:
        raise ImportRefusedError("header.p2c", "the key-derivation count is out of bounds")
    if not passphrase:
        raise ImportRefusedError("passphrase", "this export is encrypted: enter its passphrase")
    try:
        envelope.allowed_algs = [PBES2_ALG, PBES2_ENC]
        envelope.decrypt(jwk.JWK.from_password(passphrase))
    except (JWException, ValueError) as exc:
        raise ImportRefusedError("passphrase", "the passphrase does not open this export") from exc
    return envelope.payload.decode("utf-8", errors="replace").strip()


def verify_signed(token: str, fetch_jwks: FetchJwks) -> tuple[dict[str, Any], str, dict]:
    """(document, issuer, issuer's keys) of a signed export: SPEC.md §12.3 steps 2 and 3."""
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        raise ImportRefusedError("header", "the JWS header cannot be read") from exc
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") not in (
        EXPORT_TYP,
        LEGACY_EXPORT_TYP,
    ):
        raise ImportRefusedError("header.typ", f"typ is {typ!r}, expected {EXPORT_TYP!r}")
    if header.get("alg") not in consent_spec.ALLOWED_ALGORITHMS:
        raise ImportRefusedError("header.alg", f"algorithm {header.get('alg')!r} is not allowed")
    if "crit" in header:
        raise ImportRefusedError("header.crit", "critical header parameters are not supported")
    issuer = header.get("iss")
    if issuer is None:
        try:
            issuer = (
                jwt.decode(token, options={"verify_signature": False})
                .get("exporter", {})
                .get("issuer")
            )
        except (InvalidTokenError, AttributeError):
            issuer = None
    if not fetchable(issuer):
        raise ImportRefusedError(
            "$.exporter.issuer",
            "the exporting provider is not named by an https URL, so its keys cannot be fetched",
        )
    try:
        jwks = fetch_jwks(issuer)
    except Exception as exc:
        # Nothing of the network error is echoed: the page is open to anyone (no oracle).
        raise ImportRefusedError(
            "$.exporter.issuer", f"the signing keys of {issuer} could not be fetched"
        ) from exc
    document = verify_jws(token, jwks, "header")
    exporter = document.get("exporter")
    if not isinstance(exporter, dict) or exporter.get("issuer") != issuer:
        raise ImportRefusedError(
            "$.exporter.issuer", f"the document names another exporter than its signer {issuer}"
        )
    _check_document(document)
    return document, issuer, jwks


def _check_document(document: dict[str, Any]) -> None:
    """Schema (§12.3 step 3) and ledger chain (step 6, SPEC.md §8)."""
    problems = consent_spec.validate(document, "portable-profile")
    problems = problems or consent_spec.verify_chain(document["ledger"], path_prefix=("ledger",))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ImportRefusedError(first.path, first.message + more)


def _check_fresh(document: dict[str, Any], moment: datetime) -> None:
    """SPEC.md §12.3 step 4: not expired, and not an old export without an expiry."""
    expires_at = document.get("expires_at")
    if expires_at is not None:
        if instant(expires_at) <= moment:
            raise ImportRefusedError(
                "$.expires_at", "this export has expired: make a new one at your old provider"
            )
        return
    if instant(document["exported_at"]) < moment - timedelta(days=MAX_EXPORT_AGE_DAYS):
        raise ImportRefusedError(
            "$.exported_at",
            f"this export has no expiry and is over {MAX_EXPORT_AGE_DAYS} days old: "
            "make a new one at your old provider",
        )


def verified_receipts(document: dict[str, Any], jwks: dict[str, Any], issuer: str):
    """Each receipt verifies (SPEC.md §7.3) and carries a ledger entry exactly as listed."""
    entries = {entry["record_id"]: entry for entry in document["ledger"]}
    verified: dict[str, str] = {}
    for index, receipt in enumerate(document["receipts"]):
        where = f"$.receipts[{index}]"
        try:
            claims = consent_spec.verify_receipt(receipt, jwks, issuer=issuer)
        except consent_spec.ReceiptVerificationError as exc:
            raise ImportRefusedError(where, f"the receipt does not verify: {exc}") from exc
        record = claims["consent_record"]
        entry = entries.get(record.get("record_id"))
        if entry is None:
            raise ImportRefusedError(where, "the receipt is for a record that is not in the ledger")
        if consent_spec.canonical_json(entry) != consent_spec.canonical_json(record):
            raise ImportRefusedError(where, "the receipt's record differs from the ledger entry")
        verified[record["record_id"]] = receipt
    return verified


def open_export(
    raw: Any,
    fetch_jwks: FetchJwks,
    *,
    passphrase: str | None = None,
    moment: datetime | None = None,
) -> OpenedExport:
    """Check an export in the order of SPEC.md §12.3 (steps 1-4 and 6); refuse at the first fault."""
    if not isinstance(raw, str) or not raw.strip():
        raise ImportRefusedError("$", "the export is empty")
    raw = raw.strip()
    moment = moment or now()
    if raw.startswith("{"):
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ImportRefusedError("$", "an unsigned export must be a JSON object") from exc
        if not isinstance(document, dict):
            raise ImportRefusedError("$", "an unsigned export must be a JSON object")
        _check_document(document)
        _check_fresh(document, moment)
        return OpenedExport(
            document, document["exporter"]["issuer"].rstrip("/"), False, None, {}, None
        )
    if raw.count(".") == 4:
        raw = _decrypt(raw, passphrase)
    if raw.count(".") != 2:
        raise ImportRefusedError(
            "$", "not an export: expected a JWE, a JWS in compact serialization, or JSON"
        )
    document, issuer, jwks = verify_signed(raw, fetch_jwks)
    _check_fresh(document, moment)
    # Keys the export embeds are bound by its signature (SPEC.md §12.4): receipts signed
    # by keys the exporter has since retired still verify.
    keys = {"keys": [*jwks["keys"], *document.get("keys", {}).get("keys", [])]}
    return OpenedExport(
        document, issuer, True, raw, verified_receipts(document, keys, issuer), jwks
    )


def instant(value: str) -> datetime:
    """A date-time of a consent_spec document, aware, in UTC."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
