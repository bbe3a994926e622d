"""Export: the person's portable-profile document (consent_spec SPEC.md §12), signed by this
provider and, by default, encrypted under a passphrase the person chooses.

- :func:`export` builds the document: profile, personas with the sites that receive them,
  the whole ledger with its head (§8), every receipt (§7) and the keys that verify them
  (§12.4), the withdrawal behind each withdrawal_id, the custom claims' catalogue entries,
  the claims this provider verified itself as signed ``verified_claims`` (§12.2), and the
  exports the person brought here, unchanged, as ``history`` (§12.5).
- :func:`sign_export` signs it as a JWS (§7.1, ``typ`` ``portable-profile+jwt``).
- :func:`encrypt_export` wraps the JWS in a JWE under the person's passphrase (§12.1).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from jwcrypto import jwa, jwe, jwk

import consent_spec
from idp.base.clock import epoch, now, timestamp
from idp.base.context import Context
from idp.consent import ledger
from idp.portability.common import (
    EXPORT_ALG,
    EXPORT_TYP,
    VERIFIED_CLAIMS_TYP,
    ExportError,
    claim_values,
    software,
)
from idp.profile.claims import STANDARD_CLAIMS, TRUST_FRAMEWORK
from idp.profile.personas import list_personas
from idp.storage.models import ConsentRecord, User

PBES2_ALG = "PBES2-HS512+A256KW"
PBES2_ENC = "A256GCM"
PBES2_ITERATIONS = 210_000  # PBKDF2-HMAC-SHA512; SPEC.md §12.1 asks for at least this
PBES2_MAX_ITERATIONS = 10_000_000  # what an importer accepts (SPEC.md §12.1), against DoS
MIN_PASSPHRASE_LENGTH = 10
# jwcrypto bounds p2c with a module-wide ceiling; raise it to this spec's ceiling.
jwa.default_max_pbkdf2_iterations = max(jwa.default_max_pbkdf2_iterations, PBES2_MAX_ITERATIONS)


def export(ctx: Context, user: User, *, lifetime: timedelta) -> dict[str, Any]:
    """The person's ``portable-profile`` document (SPEC.md §12), validated before it is returned.

    Raises :class:`ExportError` naming the member if the data cannot be exported validly.
    """
    records = ledger.records_of(ctx.store, user.id)
    moment = now()
    personas = list_personas(ctx.store, user.id)
    document: dict[str, Any] = {
        "$schema": consent_spec.schema_id("portable-profile"),
        "spec_version": consent_spec.SPEC_VERSION,
        "export_id": str(uuid.uuid4()),
        "exported_at": timestamp(moment),
        "expires_at": timestamp(moment + lifetime),
        "exporter": {"issuer": ctx.issuer, "software": software()},
        "profile": claim_values(user.profile or {}),
        "personas": [
            _persona(persona.id, persona.name, persona.claims, _sites_of(records, persona.id))
            for persona in personas
        ],
        "ledger": [row.document for row in records],
        "ledger_head": records[-1].entry_hash if records else consent_spec.GENESIS_HASH,
        "receipts": [row.receipt for row in records],
        "terms": [],
        "withdrawals": _withdrawals(records),
        "keys": {"keys": _receipt_keys(ctx, records)},
        "verified_claims": [
            *_own_verified_claims(ctx, user),
            *(row.token for row in ctx.store.verified_claims_of(user.id)),
        ],
        "history": [row.token for row in ctx.store.imports_of(user.id) if row.token],
    }
    catalogue = _custom_catalogue(ctx, [document["profile"], *(p.claims for p in personas)])
    if catalogue is not None:
        document["catalogue"] = catalogue
    problems = consent_spec.validate(document, "portable-profile")
    if problems:
        raise ExportError(
            "your data cannot be exported as a valid portable profile: "
            + "; ".join(str(problem) for problem in problems[:3])
        )
    return document


def _persona(persona_id: str, label: str, claims: dict[str, Any], sites: list[str]):
    entry: dict[str, Any] = {
        "persona_id": persona_id,
        "label": label,
        "claims": claim_values(claims),
    }
    if sites:
        entry["sites"] = sites
    return entry


def _sites_of(records: list[ConsentRecord], persona_id: str) -> list[str]:
    """Relationships whose current consent releases this persona."""
    latest: dict[str, ConsentRecord] = {}
    for row in records:
        latest[row.client_id] = row
    return sorted(
        client_id
        for client_id, row in latest.items()
        if row.state in ledger.ACTIVE and row.persona_id == persona_id
    )


def _withdrawals(records: list[ConsentRecord]) -> list[dict[str, Any]]:
    """The withdrawal document (SPEC.md §9) behind each record that names a withdrawal_id."""
    by_id = {row.record_id: row for row in records}
    out = []
    for row in records:
        doc = row.document
        if "withdrawal_id" not in doc or "replaces" not in doc:
            continue
        before = by_id.get(doc["replaces"])
        withdrawal: dict[str, Any] = {
            "$schema": consent_spec.schema_id("withdrawal"),
            "spec_version": consent_spec.SPEC_VERSION,
            "withdrawal_id": doc["withdrawal_id"],
            "record_id": doc["replaces"],
            "client_id": row.client_id,
            "subject": doc["subject"],
            "action": "withdraw" if doc["state"] == "withdrawn" else "narrow",
            "initiated_by": "person",
            "requested_at": doc["decided_at"],
            "effective_at": doc["recorded_at"],
        }
        if withdrawal["action"] == "narrow":
            removed = [
                name
                for name in (before.document.get("granted", {}) if before is not None else {})
                if name not in doc.get("granted", {})
            ]
            if not removed:
                continue  # nothing to name: such a record is not a narrowing to resolve
            withdrawal["removes"] = {"claims": removed}
        out.append(withdrawal)
    return out


def _receipt_keys(ctx: Context, records: list[ConsentRecord]) -> list[dict[str, Any]]:
    """The public keys (retired ones included) that verify these receipts (SPEC.md §12.4)."""
    kids = {jwt.get_unverified_header(row.receipt).get("kid") for row in records}
    return [
        dict(key.public_jwk) for key in ctx.store.list_keys(include_retired=True) if key.kid in kids
    ]


def _own_verified_claims(ctx: Context, user: User) -> list[str]:
    """A signed verified claim (SPEC.md §12.2) for each value this provider verified itself,
    while the profile still holds that value."""
    out = []
    profile = user.profile or {}
    for claim, verification in sorted((user.verifications or {}).items()):
        if profile.get(claim) != verification.get("value"):
            continue
        payload = {
            "iss": ctx.issuer,
            "iat": epoch(now()),
            "verified_claims": {
                "verification": {
                    "trust_framework": TRUST_FRAMEWORK,
                    "time": verification["at"],
                    "verification_process": verification.get("method", "unspecified"),
                },
                "claims": {claim: verification["value"]},
            },
        }
        out.append(ctx.keys.sign(payload, EXPORT_ALG, typ=VERIFIED_CLAIMS_TYP))
    return out


def _custom_catalogue(ctx: Context, value_sets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The catalogue entries (SPEC.md §11) of the custom claims the person holds, if any."""
    held = {name for values in value_sets for name in values if name not in STANDARD_CLAIMS}
    if not held:
        return None
    document = ctx.catalogue.document(ctx.issuer)
    claims = {name: entry for name, entry in document["claims"].items() if name in held}
    if not claims:
        return None
    return {**document, "claims": claims}


def sign_export(ctx: Context, document: dict[str, Any]) -> str:
    """The export as a compact JWS (SPEC.md §12.1 form 2).

    The protected header carries ``kid`` (a key of our ``jwks_uri``) and ``iss``, so
    an importer knows whose keys to fetch before it trusts a byte of the payload.
    """
    key = ctx.keys.signing_key(EXPORT_ALG)
    return jwt.encode(
        document,
        key.private_key,
        algorithm=EXPORT_ALG,
        headers={"typ": EXPORT_TYP, "kid": key.kid, "iss": ctx.issuer},
    )


def encrypt_export(token: str, passphrase: str) -> str:
    """The signed export as a JWE under ``passphrase`` (SPEC.md §12.1 form 1)."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise ExportError(f"choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters")
    header = {"alg": PBES2_ALG, "enc": PBES2_ENC, "cty": EXPORT_TYP, "p2c": PBES2_ITERATIONS}
    envelope = jwe.JWE(token.encode("ascii"), json.dumps(header))
    envelope.add_recipient(jwk.JWK.from_password(passphrase))
    return envelope.serialize(compact=True)


def expires(document: dict[str, Any]) -> datetime | None:
    """When an export stops being importable (``expires_at``), if it says."""
    value = document.get("expires_at")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
