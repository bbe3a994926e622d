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
from .lifecycle import STATES, TERMINAL_STATES, TRANSITIONS
from .times import parse_date_time

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


def _as_entries(entries: Any, path_prefix: tuple[Any, ...]) -> tuple[list[Any], list[ValidationIssue]]:
    if isinstance(entries, list | tuple):
        return list(entries), []
    return [], [ValidationIssue(format_path(path_prefix), "a ledger is an array of consent records", "type")]


def verify_chain(entries: Sequence[dict[str, Any]], *, path_prefix: tuple[Any, ...] = ()) -> list[ValidationIssue]:
    """Check a ledger of consent records: sequence numbers, hash links and lifecycle.

    These are the checks of SPEC.md section 8 (``ledger-sequence``, ``ledger-hash-link``,
    ``ledger-lineage``) and the transition table of section 6.2. The lineage rules of
    section 6.3 are checked by :func:`verify_ledger`, which runs these too.

    Returns one :class:`ValidationIssue` per problem, with the JSON path of the entry
    member at fault. Entries that are not objects are reported, never raised on.
    """
    items, issues = _as_entries(entries, path_prefix)
    previous = GENESIS_HASH
    states: dict[str, Any] = {}
    replaced: set[str] = set()
    for index, entry in enumerate(items):
        where = (*path_prefix, index)
        if not isinstance(entry, dict):
            issues.append(ValidationIssue(format_path(where), "a ledger entry must be a consent record object", "type"))
            break
        if entry.get("sequence") != index or isinstance(entry.get("sequence"), bool):
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
        if not isinstance(replaces, str | None):
            replaces = repr(replaces)
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
        if (
            isinstance(state, str)
            and state in STATES
            and (prior_state is None or prior_state in STATES)
            and (replaces is None or prior_state is not None)
            and state not in TRANSITIONS[prior_state]
        ):
            origin = "a new lineage" if prior_state is None else f"state {prior_state!r}"
            issues.append(ValidationIssue(format_path((*where, "state")), f"illegal transition from {origin} to {state!r}", "lifecycle-transition"))
        if isinstance(entry.get("record_id"), str):
            states.setdefault(entry["record_id"], state if isinstance(state, str) else None)
        if replaces is not None:
            replaced.add(replaces)
        # Continue from the hash the entry itself names, so that one broken link is
        # reported once rather than at every later entry.
        named = entry.get("previous_hash")
        try:
            previous = chain_hash(entry, named if isinstance(named, str) and _HEX64.fullmatch(named) else previous)
        except (ValueError, TypeError, RecursionError) as exc:
            issues.append(ValidationIssue(format_path(where), f"entry cannot be hashed: {exc}", "ledger-hash-link"))
            break
    return issues


def _site(entry: dict[str, Any]) -> Any:
    """The relying party a record is about: ``request.relying_party.client_id``."""
    request = entry.get("request")
    party = request.get("relying_party") if isinstance(request, dict) else None
    return party.get("client_id") if isinstance(party, dict) else None


def _grants(entry: dict[str, Any]) -> set[tuple[str, str]] | None:
    """The (claim, purpose) pairs a record grants, or ``None`` when ``granted`` is malformed."""
    granted = entry.get("granted")
    if not isinstance(granted, dict):
        return None
    pairs = set()
    for claim, grant in granted.items():
        purposes = grant.get("purposes") if isinstance(grant, dict) else None
        if not isinstance(purposes, list):
            return None
        pairs.update((claim, purpose) for purpose in purposes if isinstance(purpose, str))
    return pairs


def _lineage_issues(entry: dict[str, Any], before: dict[str, Any], where: tuple[Any, ...]) -> list[ValidationIssue]:
    """Rules between a record and the record it replaces (SPEC.md section 6.3)."""
    issues = []
    if _site(entry) != _site(before):
        issues.append(
            ValidationIssue(
                format_path((*where, "request", "relying_party", "client_id")),
                f"a record replaces only a record about the same relying party; it replaces one about {_site(before)!r}",
                "lineage-same-party",
            )
        )
    if entry.get("subject") != before.get("subject"):
        issues.append(
            ValidationIssue(format_path((*where, "subject")), "a record replaces only a record about the same subject", "lineage-same-party")
        )
    for member in ("decided_at", "recorded_at"):
        mine, theirs = parse_date_time(entry.get(member)), parse_date_time(before.get(member))
        if mine is not None and theirs is not None and mine < theirs:
            issues.append(
                ValidationIssue(
                    format_path((*where, member)),
                    f"{member} is earlier than the {member} of the record it replaces ({before.get(member)})",
                    "lineage-time-order",
                )
            )
    state = entry.get("state")
    if state == "narrowed":
        now, earlier = _grants(entry), _grants(before)
        if now is not None and earlier is not None:
            added = sorted(now - earlier)
            if added:
                shown = ", ".join(f"{claim} for {purpose}" for claim, purpose in added)
                issues.append(
                    ValidationIssue(format_path((*where, "granted")), f"a narrowing cannot grant what the record it replaces did not: {shown}", "lineage-narrowing-subset")
                )
            elif now == earlier:
                issues.append(
                    ValidationIssue(format_path((*where, "granted")), "a narrowing must remove at least one claim or purpose", "lineage-narrowing-subset")
                )
    if state == "expired":
        lapsed = before.get("expires_at")
        if lapsed is None:
            issues.append(
                ValidationIssue(format_path((*where, "state")), "only a consent that had an expires_at can expire", "lineage-expiry")
            )
        else:
            due, decided = parse_date_time(lapsed), parse_date_time(entry.get("decided_at"))
            if due is not None and decided is not None and decided < due:
                issues.append(
                    ValidationIssue(
                        format_path((*where, "decided_at")),
                        f"a consent cannot expire before its expires_at ({lapsed})",
                        "lineage-expiry",
                    )
                )
    return issues


def verify_ledger(entries: Sequence[dict[str, Any]], *, path_prefix: tuple[Any, ...] = ()) -> list[ValidationIssue]:
    """Check a whole ledger: the chain of SPEC.md section 8 and the lineage rules of 6.3.

    Besides :func:`verify_chain`'s checks, every ``record_id`` is unique
    (``ledger-record-unique``); a record and the one it replaces are about the same
    relying party and subject (``lineage-same-party``); a record is not dated before
    the one it replaces (``lineage-time-order``); a narrowing grants a strict subset of
    what it narrows (``lineage-narrowing-subset``); only a consent with ``expires_at``
    expires, and not before that time (``lineage-expiry``); and a new lineage starts
    only when every earlier lineage about the same relying party has ended
    (``ledger-one-open-lineage``).

    Never raises for bad data: every problem is returned as a :class:`ValidationIssue`.
    """
    issues = verify_chain(entries, path_prefix=path_prefix)
    items, _ = _as_entries(entries, path_prefix)
    by_id: dict[str, dict[str, Any]] = {}
    # The newest record of each lineage that has not ended, keyed by relying party.
    open_lineages: dict[Any, list[str]] = {}
    for index, entry in enumerate(items):
        if not isinstance(entry, dict):
            break
        where = (*path_prefix, index)
        record_id = entry.get("record_id")
        if isinstance(record_id, str) and record_id in by_id:
            issues.append(ValidationIssue(format_path((*where, "record_id")), "record_id repeats an earlier entry's", "ledger-record-unique"))
        replaces = entry.get("replaces")
        before = by_id.get(replaces) if isinstance(replaces, str) else None
        if before is not None:
            issues.extend(_lineage_issues(entry, before, where))
        site = _site(entry)
        # A client_id that is not a string is reported by its schema check; it is named here by
        # type only, since repr() of an absurd value (a 20,000-digit integer) raises.
        site = site if isinstance(site, str | None) else f"<{type(site).__name__}>"
        lineages = open_lineages.setdefault(site, [])
        if replaces is None and lineages:
            issues.append(
                ValidationIssue(
                    format_path(where),
                    f"a new lineage about relying party {site!r} starts while record {lineages[0]} of another lineage about it has not ended; "
                    "end it (superseded, withdrawn…) or replace it",
                    "ledger-one-open-lineage",
                )
            )
        if isinstance(replaces, str) and replaces in lineages:
            lineages.remove(replaces)
        if isinstance(record_id, str) and not (isinstance(entry.get("state"), str) and entry["state"] in TERMINAL_STATES):
            lineages.append(record_id)
        if isinstance(record_id, str):
            by_id.setdefault(record_id, entry)
    return issues
