"""JCS (RFC 8785) vectors that a naive serializer does not reproduce (SPEC.md sections 8 and 15).

The canonical forms in vectors/jcs/cases.json were written by hand from RFC 8785
section 3.2.2.2 (strings: only the required escapes, everything else as UTF-8),
3.2.2.3 (numbers as ECMAScript writes them: ``1`` not ``1.0``, ``1e-7``,
``100000000000000000000``, ``1e+21``, ``0`` for ``-0``) and 3.2.3 (members sorted by
UTF-16 code units, so U+1F600, stored as D83D DE00, sorts before U+FB00).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from consent_spec import GENESIS_HASH, canonical_json, chain_hash, verify_receipt
from consent_spec.vectors import jcs_vectors, lineage_vectors, receipt_vectors

CASES = jcs_vectors()
UNICODE_LEDGER = lineage_vectors(valid=True)["non-ascii-record.json"]


def _naive(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode("utf-8")


def _compact_naive(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_canonical_form_and_hash_are_reproduced(case: dict[str, Any]) -> None:
    canonical = canonical_json(json.loads(case["input"]))
    assert canonical == case["canonical"].encode("utf-8")
    assert hashlib.sha256(canonical).hexdigest() == case["sha256"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_naive_json_dumps_does_not_reproduce_the_hash(case: dict[str, Any]) -> None:
    value = json.loads(case["input"])
    assert hashlib.sha256(_naive(value)).hexdigest() != case["sha256"]
    compact = hashlib.sha256(_compact_naive(value)).hexdigest()
    assert (compact != case["sha256"]) == case["compact_sorted_json_differs"]


def test_the_cases_cover_numbers_utf16_order_and_non_ascii() -> None:
    assert {case["rfc8785_section"] for case in CASES} >= {"3.2.2.2", "3.2.2.3", "3.2.3"}
    assert all(case["canonical"] != case["input"] for case in CASES)
    assert any(not case["canonical"].isascii() for case in CASES)
    assert sum(case["compact_sorted_json_differs"] for case in CASES) >= 3


def test_non_ascii_ledger_hash_needs_jcs() -> None:
    (entry,) = UNICODE_LEDGER["entries"]
    (expected,) = UNICODE_LEDGER["expected_hashes"]
    assert chain_hash(entry, GENESIS_HASH) == expected
    for naive in (_naive, _compact_naive):
        assert hashlib.sha256(GENESIS_HASH.encode("ascii") + naive(entry)).hexdigest() != expected
    assert not canonical_json(entry).isascii()


def test_eddsa_receipt_of_the_non_ascii_record_verifies() -> None:
    vectors = receipt_vectors()
    (entry,) = [item for item in vectors["receipts"] if item["file"] == "given-eddsa-non-ascii.jwt"]
    claims = verify_receipt(entry["jwt"], vectors["jwks"], issuer=vectors["issuer"])
    assert claims["consent_record"] == UNICODE_LEDGER["entries"][0]
    assert claims["record_hash"] == UNICODE_LEDGER["expected_hashes"][0]
    kinds = {key["kid"]: key["kty"] for key in vectors["jwks"]["keys"]}
    assert kinds["porta-vectors-ed25519"] == "OKP"
