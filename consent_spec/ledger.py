"""The consent ledger hash chain (SPEC.md section 8).

Each entry's hash is ``SHA-256(previous_hash || JCS(entry))`` where ``previous_hash``
is the 64 lowercase hexadecimal characters of the previous entry's hash (64 zeros for
the first entry), encoded as ASCII, and ``JCS`` is the RFC 8785 JSON Canonicalization
Scheme. The result is written as 64 lowercase hexadecimal characters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import rfc8785

from .issues import ValidationIssue, format_path
from .lifecycle import STATES, TRANSITIONS

GENESIS_HASH = "0" * 64
"""The ``previous_hash`` of the first entry of every ledger."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


def canonical_json(entry: Any) -> bytes:
    """Serialize ``entry`` with the RFC 8785 JSON Canonicalization Scheme.

    Raises ``ValueError`` (or a subclass from ``rfc8785``) for values JCS cannot
    represent, such as integers beyond the I-JSON range (RFC 7493 section 2.2).
    """
    try:
        return rfc8785.dumps(entry)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"entry cannot be canonicalized with RFC 8785: {exc}") from exc


def chain_hash(entry: Any, previous_hash: str) -> str:
    """Return the hash of ``entry`` chained to ``previous_hash`` (SPEC.md section 8).

    ``previous_hash`` must be 64 lowercase hexadecimal characters. When ``entry``
    is an object with its own ``previous_hash`` member, the two must agree: an entry
    cannot be chained to a predecessor other than the one it names.
    """
    if not isinstance(previous_hash, str) or not _HEX64.fullmatch(previous_hash):
        raise ValueError("previous_hash must be 64 lowercase hexadecimal characters")
    if isinstance(entry, dict) and "previous_hash" in entry and entry["previous_hash"] != previous_hash:
        raise ValueError("entry names a different previous_hash than the one given")
    digest = hashlib.sha256()
    digest.update(previous_hash.encode("ascii"))
    digest.update(canonical_json(entry))
    return digest.hexdigest()


def ledger_head(entries: Sequence[Any]) -> str:
    """Return the hash of the last entry of a ledger (``GENESIS_HASH`` when empty)."""
    head = GENESIS_HASH
    for entry in entries:
        head = chain_hash(entry, head)
    return head


def verify_chain(entries: Sequence[dict[str, Any]], *, path_prefix: tuple[Any, ...] = ()) -> list[ValidationIssue]:
    """Check a ledger of consent records: sequence numbers, hash links and lifecycle.

    Returns one :class:`ValidationIssue` per problem, with the JSON path of the entry
    member at fault. The entries are expected to be schema-valid consent records.
    """
    issues: list[ValidationIssue] = []
    previous = GENESIS_HASH
    states: dict[str, str] = {}
    replaced: set[str] = set()
    for index, entry in enumerate(entries):
        where = (*path_prefix, index)
        if entry.get("sequence") != index:
            issues.append(ValidationIssue(format_path((*where, "sequence")), f"sequence must be {index}", "ledger-sequence"))
        if entry.get("previous_hash") != previous:
            issues.append(
                ValidationIssue(
                    format_path((*where, "previous_hash")),
                    f"previous_hash must be {previous}, the hash of the entry before",
                    "ledger-hash-link",
                )
            )
        state = entry.get("state")
        replaces = entry.get("replaces")
        prior_state: str | None = None
        if replaces is not None:
            if replaces not in states:
                issues.append(
                    ValidationIssue(format_path((*where, "replaces")), "replaces a record that is not earlier in the ledger", "ledger-lineage")
                )
            elif replaces in replaced:
                issues.append(
                    ValidationIssue(format_path((*where, "replaces")), "the replaced record was already replaced by an earlier entry", "ledger-lineage")
                )
            prior_state = states.get(replaces)
        if state in STATES and (replaces is None or prior_state is not None) and state not in TRANSITIONS[prior_state]:
            origin = "a new lineage" if prior_state is None else f"state {prior_state!r}"
            issues.append(ValidationIssue(format_path((*where, "state")), f"illegal transition from {origin} to {state!r}", "lifecycle-transition"))
        if isinstance(entry.get("record_id"), str):
            states[entry["record_id"]] = state
        if replaces is not None:
            replaced.add(replaces)
        # Continue from the hash the entry itself names, so that one broken link is
        # reported once rather than at every later entry.
        named = entry.get("previous_hash")
        try:
            previous = chain_hash(entry, named if isinstance(named, str) else previous)
        except ValueError as exc:
            issues.append(ValidationIssue(format_path(where), str(exc), "ledger-hash-link"))
            break
    return issues
