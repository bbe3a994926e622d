"""consent_spec documents for the broken test provider: records, receipts, SETs, exports.

Records start from consent_spec's own valid vector (``valid/consent-record/given.json``)
and are narrowed to what the RP asked and the person granted, so the double speaks the
profile exactly as consent_spec defines it without re-deriving every field.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jwt

import consent_spec
from consent_spec.ledger import GENESIS_HASH, chain_hash, ledger_head

WITHDRAWN = "https://porta.example/consent-spec/1.0/event/consent-withdrawn"
CLAIM_TEMPLATE = "email"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _vector(name: str) -> dict[str, Any]:
    path = resources.files("consent_spec") / "vectors" / "valid" / "consent-record" / name
    return json.loads(path.read_text(encoding="utf-8"))


def new_record(*, subject: str, client_id: str, requested: list[str], granted: list[str],
               ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``given`` consent record appended after ``ledger``'s last entry, or ``renewed`` when it
    replaces the relationship's active record (SPEC.md §6.3: one open lineage per site)."""
    record = _vector("given.json")
    claim_template = record["request"]["claims"][CLAIM_TEMPLATE]
    record["request"]["claims"] = {c: {**copy.deepcopy(claim_template), "essential": False} for c in requested}
    record["request"]["relying_party"]["client_id"] = client_id
    record["request"]["request_id"] = str(uuid.uuid4())
    record["request"]["created_at"] = _now()
    record["request"].pop("accepted_terms", None)
    record.pop("accepted_terms", None)
    record["granted"] = {c: {"purposes": list(claim_template["purposes"])} for c in granted}
    record["refused"] = [c for c in requested if c not in granted]
    record.update(record_id=str(uuid.uuid4()), subject=subject, sequence=len(ledger),
                  previous_hash=ledger_head(ledger) if ledger else GENESIS_HASH,
                  decided_at=_now(), recorded_at=_now())
    record.pop("expires_at", None)
    same_site = [r for r in ledger if r["request"]["relying_party"]["client_id"] == client_id]
    if same_site and same_site[-1]["state"] in consent_spec.lifecycle.ACTIVE_STATES:
        record.update(state="renewed", replaces=same_site[-1]["record_id"])
    problems = consent_spec.validate(record, "consent-record")
    if problems:
        raise AssertionError(f"double built an invalid record: {problems[:3]}")
    return record


def withdrawn_record(previous: dict[str, Any], withdrawal_id: str,
                     ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``withdrawn`` record that replaces ``previous``."""
    record = copy.deepcopy(previous)
    record.update(record_id=str(uuid.uuid4()), state="withdrawn", replaces=previous["record_id"],
                  withdrawal_id=withdrawal_id, granted={},
                  refused=sorted(set(previous["refused"]) | set(previous["granted"])),
                  sequence=len(ledger), previous_hash=ledger_head(ledger),
                  decided_at=_now(), recorded_at=_now())
    return record


def receipt(record: dict[str, Any], *, issuer: str, client_id: str, key: Any, kid: str,
            typ: str = "consent-receipt+jwt") -> str:
    """The signed receipt of ``record`` (SPEC §7)."""
    claims = {"iss": issuer, "sub": record["subject"], "aud": client_id, "iat": int(time.time()),
              "jti": secrets.token_urlsafe(12), "spec_version": "1.0", "consent_record": record,
              "record_hash": chain_hash(record, record["previous_hash"])}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": typ})


def withdrawal_event(previous: dict[str, Any], new: dict[str, Any], *, issuer: str, client_id: str,
                     key: Any, kid: str) -> str:
    """The consent-withdrawn SET (SPEC §13, RFC 8417)."""
    now = int(time.time())
    claims = {"iss": issuer, "iat": now, "jti": secrets.token_urlsafe(12), "aud": client_id,
              "sub": previous["subject"], "toe": now,
              "events": {WITHDRAWN: {"record_id": previous["record_id"], "new_record_id": new["record_id"],
                                     "claims": sorted(previous["granted"])}}}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "secevent+jwt"})


def export(ledger: list[dict[str, Any]], receipts: list[str], *, issuer: str,
           profile: dict[str, Any]) -> dict[str, Any]:
    """The person's portable-profile export (SPEC §12)."""
    return {"spec_version": "1.0", "export_id": str(uuid.uuid4()), "exported_at": _now(),
            "exporter": {"issuer": issuer}, "profile": profile, "personas": [],
            "ledger": ledger, "ledger_head": ledger_head(ledger), "receipts": receipts, "terms": []}
