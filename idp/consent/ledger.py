"""The consent ledger: append-only, hash-chained consent records per person (SPEC.md §5, §6, §8).

Every decision — given, refused, renewed, narrowed, withdrawn, expired,
superseded — is a new record whose ``previous_hash`` names the hash of the
person's previous entry; the current state of a relationship is derived from
the newest record of its lineage. Each record is signed into a receipt JWT
(SPEC.md §7) in the same transaction, so no record exists without its receipt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import consent_spec
from idp.base import metrics
from idp.base.clock import epoch, now
from idp.base.encoding import random_token
from idp.keys import KeyRing
from idp.storage import Store
from idp.storage.models import ConsentRecord

ACTIVE = consent_spec.lifecycle.ACTIVE_STATES
RECEIPT_ALG = "ES256"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Appended:
    """A record just appended, with its receipt."""

    row: ConsentRecord
    receipt: str


def _head(store: Store, user_id: str) -> tuple[int, str]:
    """(next sequence, previous hash) for the person's ledger, under the person's ledger lock."""
    store.lock_ledger(user_id)
    last = store.ledger_head(user_id)
    if last is None:
        return 0, consent_spec.GENESIS_HASH
    return last.sequence + 1, last.entry_hash


def latest_record(store: Store, user_id: str, client_id: str) -> ConsentRecord | None:
    """The newest record about this relationship (its current state)."""
    return store.latest_consent_record(user_id, client_id)


def records_of(store: Store, user_id: str, client_id: str | None = None) -> list[ConsentRecord]:
    """A person's records in ledger order, optionally for one relying party."""
    return store.consent_records(user_id, client_id)


# The record extension (SPEC.md §3.4) that lists the scope values the person approved along
# with the claims (e.g. offline_access), so remembered approval is derived from the ledger.
APPROVED_SCOPES = "https://porta.example/ext/approved-scopes"


@dataclass(frozen=True)
class Entry:
    """What a new ledger record says: the decision, whose it is, and what it replaces."""

    user_id: str
    client_id: str
    subject: str
    state: str
    request: dict[str, Any]
    granted: dict[str, dict[str, list[str]]]
    refused: list[str]
    collection_method: str
    persona_id: str | None = None
    persona_ref: str | None = None
    replaces: ConsentRecord | None = None
    withdrawal_id: str | None = None
    expires_at: datetime | None = None
    decided_at: datetime | None = None
    approved_scopes: list[str] | None = None


# "Leave as the replaced record had it" (a persona may be set to None, the base profile).
KEEP: Any = object()


def approved_scopes(record: ConsentRecord) -> list[str]:
    """The scope values the person approved with this record (empty for older records)."""
    return list((record.document.get("extensions") or {}).get(APPROVED_SCOPES, []))


def append_successor(
    store: Store,
    keys: KeyRing,
    issuer: str,
    record: ConsentRecord,
    state: str,
    *,
    collection_method: str,
    granted: dict[str, dict[str, list[str]]] | None = None,
    persona_id: Any = KEEP,
    persona_ref: Any = KEEP,
    withdrawal_id: str | None = None,
    keep_expiry: bool = True,
) -> Appended:
    """Append the record that follows ``record`` in its lineage (SPEC.md §6).

    It keeps the relationship, subject, request and approved scopes of ``record``;
    ``granted`` defaults to what ``record`` granted (``{}`` ends the lineage), the
    rest of the request is refused; persona and expiry carry over unless given.
    """
    document = record.document
    still = dict(document.get("granted", {})) if granted is None else granted
    active = state in ACTIVE
    return append(
        store,
        keys,
        issuer,
        Entry(
            user_id=record.user_id,
            client_id=record.client_id,
            subject=document["subject"],
            state=state,
            request=document["request"],
            granted=still,
            refused=[name for name in document["request"]["claims"] if name not in still],
            collection_method=collection_method,
            persona_id=(record.persona_id if persona_id is KEEP else persona_id)
            if active
            else None,
            persona_ref=(
                (document.get("persona") or {}).get("persona_id")
                if persona_ref is KEEP
                else persona_ref
            )
            if active
            else None,
            replaces=record,
            withdrawal_id=withdrawal_id,
            expires_at=record.expires_at if keep_expiry and active else None,
            approved_scopes=approved_scopes(record) if active else None,
        ),
    )


def append(store: Store, keys: KeyRing, issuer: str, entry: Entry) -> Appended:
    """Append one record and sign its receipt; the caller commits (with the grant it records)."""
    replaces, state, request = entry.replaces, entry.state, entry.request
    previous_state = replaces.state if replaces is not None else None
    consent_spec.check_transition(previous_state, state)
    metrics.CONSENT_DECISIONS.labels(state).inc()
    sequence, previous_hash = _head(store, entry.user_id)
    moment = now()
    decided = entry.decided_at or moment
    document: dict[str, Any] = {
        "$schema": consent_spec.schema_id("consent-record"),
        "spec_version": consent_spec.SPEC_VERSION,
        "record_id": str(uuid.uuid4()),
        "sequence": sequence,
        "previous_hash": previous_hash,
        "state": state,
        "subject": entry.subject,
        "request": request,
        "granted": entry.granted,
        "refused": entry.refused,
        "collection_method": entry.collection_method,
        "consent_type": "explicit",
        "jurisdiction": request.get("relying_party", {}).get("jurisdiction", "EU"),
        "language": request.get("language", "en"),
        "decided_at": _timestamp(decided),
        "recorded_at": _timestamp(moment),
    }
    if state in ACTIVE:
        document["persona"] = {"persona_id": entry.persona_ref or "default"}
    if replaces is not None:
        document["replaces"] = replaces.record_id
    if entry.withdrawal_id is not None:
        document["withdrawal_id"] = entry.withdrawal_id
    if entry.expires_at is not None:
        document["expires_at"] = _timestamp(entry.expires_at)
    if request.get("accepted_terms"):
        document["accepted_terms"] = request["accepted_terms"]
    if entry.approved_scopes:
        document["extensions"] = {APPROVED_SCOPES: list(entry.approved_scopes)}
    problems = consent_spec.validate(document, kind="consent-record")
    if problems:
        raise ValueError(
            "refusing to append an invalid consent record: " + "; ".join(map(str, problems[:5]))
        )
    entry_hash = consent_spec.chain_hash(document, previous_hash)
    key = keys.signing_key(RECEIPT_ALG, store)
    receipt = consent_spec.sign_receipt(
        {
            "iss": issuer,
            "sub": entry.subject,
            "aud": [entry.client_id, issuer],
            "iat": epoch(moment),
            "jti": random_token(16),
            "spec_version": consent_spec.SPEC_VERSION,
            "consent_record": document,
            "record_hash": entry_hash,
        },
        key.private_key,
        key.kid,
        RECEIPT_ALG,
    )
    row = ConsentRecord(
        record_id=document["record_id"],
        user_id=entry.user_id,
        client_id=entry.client_id,
        sequence=sequence,
        previous_hash=previous_hash,
        entry_hash=entry_hash,
        state=state,
        document=document,
        receipt=receipt,
        persona_id=entry.persona_id,
        recorded_at=moment,
        expires_at=entry.expires_at,
    )
    store.add_consent_record(row)
    store.audit(
        "consent_changed",
        user_id=entry.user_id,
        client_id=entry.client_id,
        state=state,
        previous_state=previous_state,
        record_id=row.record_id,
        collection_method=entry.collection_method,
    )
    return Appended(row, receipt)


def receipts_for_client(store: Store, client_id: str, sub: str | None) -> list[str]:
    """Every receipt of records about ``client_id``, oldest first; only one person's with ``sub``."""
    rows = store.consent_records_of_client(client_id)
    return [row.receipt for row in rows if sub is None or row.document.get("subject") == sub]


@dataclass(frozen=True)
class BrokenLink:
    """The first entry of a ledger that fails verification."""

    user_id: str | None
    sequence: int
    record_id: str
    reason: str


def verify_ledgers(store: Store) -> tuple[int, list[BrokenLink]]:
    """Check every person's chain (SPEC.md §8); returns (entries checked, first break per ledger).

    Besides the spec's checks on the documents, the stored columns must agree
    with the document (sequence, previous hash, state), the stored hash must be
    the recomputed one, and each row's receipt must verify with this provider's
    keys (retired ones included) and carry that very record — so an edit of any
    part of a row is caught, even one whose following hashes were recomputed.
    """
    jwks = {"keys": [dict(key.public_jwk) for key in store.list_keys(include_retired=True)]}
    rows = list(store.ledger_rows())
    by_user: dict[str | None, list[ConsentRecord]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    broken: list[BrokenLink] = []
    for user_id, entries in by_user.items():
        if user_id is None:
            continue  # records of deleted accounts are checked through their own chains below
        problem = _first_break(entries, jwks)
        if problem is not None:
            broken.append(BrokenLink(user_id, *problem))
    chains, strays = _detached_chains(by_user.get(None, []))
    for entries in chains:
        problem = _first_break(entries, jwks)
        if problem is not None:
            broken.append(BrokenLink(None, *problem))
    for row in strays:
        broken.append(
            BrokenLink(
                None, row.sequence, row.record_id, "not linked to the chain of any deleted account"
            )
        )
    return len(rows), broken


def _detached_chains(
    rows: list[ConsentRecord],
) -> tuple[list[list[ConsentRecord]], list[ConsentRecord]]:
    """Rebuild the ledgers of deleted accounts from their hash links (SPEC.md §8).

    A deleted person's rows keep no ``user_id``, but each names its predecessor's
    hash in ``previous_hash``: every chain starts at a sequence-0 entry on the
    genesis hash and continues through the entry naming the last one's hash.
    Rows reached from no start (an edited hash, a missing entry) are returned
    as strays, and so is a second entry claiming the same predecessor.
    """
    following: dict[str, list[ConsentRecord]] = {}
    for row in rows:
        following.setdefault(row.previous_hash, []).append(row)
    chains: list[list[ConsentRecord]] = []
    reached: set[str] = set()
    for start in following.get(consent_spec.GENESIS_HASH, []):
        if start.sequence != 0:
            continue
        chain = [start]
        reached.add(start.record_id)
        while True:
            successors = [
                row
                for row in following.get(chain[-1].entry_hash, [])
                if row.record_id not in reached
            ]
            if len(successors) != 1:
                break
            chain.append(successors[0])
            reached.add(successors[0].record_id)
        chains.append(chain)
    strays = sorted(
        (row for row in rows if row.record_id not in reached),
        key=lambda row: (row.recorded_at, row.sequence),
    )
    return chains, strays


def _receipt_problem(row: ConsentRecord, jwks: dict[str, Any]) -> str | None:
    """Why the row's receipt does not vouch for the row, or None."""
    try:
        claims = consent_spec.verify_receipt(row.receipt, jwks)
    except consent_spec.ReceiptVerificationError:
        return "its receipt does not verify with this provider's keys (tampered)"
    same = consent_spec.canonical_json(claims["consent_record"]) == consent_spec.canonical_json(
        row.document
    )
    if not same or claims.get("record_hash") != row.entry_hash:
        return "its receipt was signed for another record (tampered)"
    return None


def _first_break(entries: list[ConsentRecord], jwks: dict[str, Any]) -> tuple[int, str, str] | None:
    previous = consent_spec.GENESIS_HASH
    for index, row in enumerate(entries):
        doc = row.document
        if row.sequence != index or doc.get("sequence") != index:
            return row.sequence, row.record_id, f"sequence should be {index}"
        if doc.get("previous_hash") != previous or row.previous_hash != previous:
            return row.sequence, row.record_id, "previous_hash does not link to the entry before"
        if doc.get("state") != row.state or doc.get("record_id") != row.record_id:
            return row.sequence, row.record_id, "stored columns disagree with the record"
        recomputed = consent_spec.chain_hash(doc, previous)
        if recomputed != row.entry_hash:
            return row.sequence, row.record_id, "entry hash does not match its content (tampered)"
        # A row edited with every following hash recomputed still chains; its receipt, signed
        # when the record was made, does not follow the edit (SPEC.md §7.3).
        problem = _receipt_problem(row, jwks)
        if problem is not None:
            return row.sequence, row.record_id, problem
        previous = recomputed
    issues = consent_spec.verify_chain([row.document for row in entries])
    if issues:
        first = issues[0]
        return entries[0].sequence, entries[0].record_id, f"{first.path}: {first.message}"
    return None
