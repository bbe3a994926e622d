"""The ledger hash chain (SPEC.md section 8)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from consent_spec import GENESIS_HASH, canonical_json, chain_hash, ledger_head, verify_chain
from consent_spec.vectors import ledger_vectors

VECTORS = ledger_vectors()
CHAIN = VECTORS[0]


def _independent_hash(entry: Any, previous: str) -> str:
    """SPEC.md section 8 computed without consent_spec or rfc8785.

    For these vectors (no floats, keys in the Basic Multilingual Plane) RFC 8785 JCS
    equals JSON with sorted keys, no whitespace and UTF-8 characters left as is.
    """
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(previous.encode("ascii") + text.encode("utf-8")).hexdigest()


def test_chain_vector_has_at_least_three_entries() -> None:
    assert len(CHAIN["entries"]) >= 3
    assert len(CHAIN["expected_hashes"]) == len(CHAIN["entries"])


def test_chain_vector_hashes_are_reproduced() -> None:
    previous = CHAIN["genesis"]
    for entry, expected in zip(CHAIN["entries"], CHAIN["expected_hashes"], strict=True):
        assert entry["previous_hash"] == previous
        assert chain_hash(entry, previous) == expected
        assert _independent_hash(entry, previous) == expected
        previous = expected
    assert ledger_head(CHAIN["entries"]) == CHAIN["head"] == previous


def test_chain_vector_verifies() -> None:
    assert verify_chain(CHAIN["entries"]) == []


def test_jcs_ignores_member_order_and_number_spelling() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()
    entry = {"state": "given", "sequence": 0, "previous_hash": GENESIS_HASH}
    reordered = {"previous_hash": GENESIS_HASH, "sequence": 0, "state": "given"}
    assert chain_hash(entry, GENESIS_HASH) == chain_hash(reordered, GENESIS_HASH)


def test_numbers_outside_i_json_are_refused() -> None:
    with pytest.raises(ValueError):
        chain_hash({"n": 2**60}, GENESIS_HASH)


@pytest.mark.parametrize("previous", ["", "0" * 63, "G" * 64, "A" * 64, None])
def test_previous_hash_must_be_64_lowercase_hex(previous: Any) -> None:
    with pytest.raises(ValueError):
        chain_hash({}, previous)


def test_entry_naming_another_predecessor_is_misuse() -> None:
    with pytest.raises(ValueError, match="previous_hash"):
        chain_hash({"previous_hash": "1" * 64}, GENESIS_HASH)


def test_empty_ledger_head_is_genesis() -> None:
    assert ledger_head([]) == GENESIS_HASH == "0" * 64


def _problems(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(issue.path, issue.rule) for issue in verify_chain(entries)}


def test_edited_entry_breaks_the_next_link() -> None:
    entries = copy.deepcopy(CHAIN["entries"])
    entries[1]["granted"]["email"]["purposes"].append("customer-care")
    assert _problems(entries) == {("$[2].previous_hash", "ledger-hash-link")}


def test_removed_entry_is_detected() -> None:
    entries = copy.deepcopy(CHAIN["entries"])
    del entries[1]
    problems = _problems(entries)
    assert ("$[1].sequence", "ledger-sequence") in problems
    assert ("$[1].previous_hash", "ledger-hash-link") in problems


def test_swapped_entries_are_detected() -> None:
    entries = copy.deepcopy(CHAIN["entries"])
    entries[1], entries[2] = entries[2], entries[1]
    problems = _problems(entries)
    assert ("$[1].previous_hash", "ledger-hash-link") in problems
    assert ("$[1].replaces", "ledger-lineage") in problems


def test_record_replaced_twice_is_detected() -> None:
    entries = copy.deepcopy(CHAIN["entries"][:2])
    fork = dict(copy.deepcopy(entries[1]), record_id="11111111-2222-4333-8444-555555555555", sequence=2)
    fork["previous_hash"] = chain_hash(entries[1], entries[1]["previous_hash"])
    assert _problems([*entries, fork]) == {("$[2].replaces", "ledger-lineage")}
