"""Lineage rules of a ledger (SPEC.md section 6.3), checked by verify_ledger and validate.

Each invalid ledger vector has an intact hash chain, legal transitions and valid
records, so verify_chain (the section 8 checks alone) accepts it: the lineage rule
its manifest names is its only fault.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest

from consent_spec import (
    GENESIS_HASH,
    chain_hash,
    ledger_head,
    validate,
    verify_chain,
    verify_ledger,
)
from consent_spec.vectors import lineage_vectors, valid_vectors

VALID = lineage_vectors(valid=True)
INVALID = lineage_vectors(valid=False)
SPEC = resources.files("consent_spec").joinpath("SPEC.md").read_text("utf-8")
EMPTY_EXPORT = next(v.document for v in valid_vectors() if v.name == "portable-profile/empty-account.json")


def _export(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The ledger inside an otherwise empty portable profile (SPEC.md section 12)."""
    return {**copy.deepcopy(EMPTY_EXPORT), "ledger": copy.deepcopy(entries), "ledger_head": ledger_head(entries)}


def _found(issues: list[Any]) -> set[tuple[str, str]]:
    return {(issue.path, issue.rule) for issue in issues}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_ledger_is_accepted_and_hashes_are_reproduced(name: str) -> None:
    vector = VALID[name]
    assert verify_ledger(vector["entries"]) == []
    previous = GENESIS_HASH
    for entry, expected in zip(vector["entries"], vector["expected_hashes"], strict=True):
        assert validate(entry, "consent-record") == []
        assert chain_hash(entry, previous) == expected
        previous = expected
    assert previous == vector["head"]
    assert validate(_export(vector["entries"]), "portable-profile") == []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_ledger_breaks_only_its_lineage_rule(name: str) -> None:
    vector = INVALID[name]
    for entry in vector["entries"]:
        assert validate(entry, "consent-record") == [], entry["record_id"]
    assert verify_chain(vector["entries"]) == [], "the hash chain and transitions are intact"
    issues = verify_ledger(vector["entries"])
    assert (vector["path"], vector["rule"]) in _found(issues)
    assert {issue.rule for issue in issues} == {vector["rule"]}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_validator_rejects_an_export_holding_the_invalid_ledger(name: str) -> None:
    vector = INVALID[name]
    issues = validate(_export(vector["entries"]), "portable-profile")
    assert ("$.ledger" + vector["path"][1:], vector["rule"]) in _found(issues)


def test_the_seven_lineages_of_issue_15_each_have_an_invalid_vector() -> None:
    expected = {
        "narrowing-adds-special-category-claim.json": "lineage-narrowing-subset",
        "narrowing-removes-nothing.json": "lineage-narrowing-subset",
        "replaces-another-sites-record.json": "lineage-same-party",
        "withdrawal-before-consent.json": "lineage-time-order",
        "duplicate-record-id.json": "ledger-record-unique",
        "two-open-lineages-for-one-site.json": "ledger-one-open-lineage",
        "expired-without-expires-at.json": "lineage-expiry",
    }
    assert {name: INVALID[name]["rule"] for name in expected} == expected


def test_every_lineage_rule_has_a_valid_and_an_invalid_vector_and_is_in_spec_md() -> None:
    rules = {vector["rule"] for vector in INVALID.values()}
    assert rules == {"lineage-narrowing-subset", "lineage-same-party", "lineage-time-order", "ledger-record-unique",
                     "ledger-one-open-lineage", "lineage-expiry"}
    described = " ".join(vector["description"] for vector in VALID.values())
    for rule in rules:
        assert f"`{rule}`" in SPEC, rule
    for rule in ("lineage-narrowing-subset", "lineage-expiry", "ledger-one-open-lineage", "lineage-same-party"):
        assert rule in described, rule


def test_a_narrowing_that_adds_a_purpose_is_rejected() -> None:
    entries = copy.deepcopy(VALID["narrowed-by-one-purpose.json"]["entries"])
    entries[1]["granted"]["birthdate"]["purposes"].append("marketing")
    entries[1]["previous_hash"] = chain_hash(entries[0], GENESIS_HASH)
    assert ("$[1].granted", "lineage-narrowing-subset") in _found(verify_ledger(entries))


@pytest.mark.parametrize("junk", [None, 7, "ledger", {"a": 1}, [1, "x", None], [[]]])
def test_verifiers_report_non_ledgers_instead_of_raising(junk: Any) -> None:
    assert verify_ledger(junk)
    assert verify_chain(junk)


def test_narrowed_record_keeps_persona_and_refused_complement_in_the_bookshop_chain() -> None:
    """The long-standing chain vector obeys the refused rule in every state (SPEC.md 5.2 rule 4)."""
    from consent_spec.vectors import ledger_vectors

    chain = ledger_vectors()[0]["entries"]
    for entry in chain:
        requested = set(entry["request"]["claims"])
        assert set(entry["refused"]) == requested - set(entry["granted"])
    assert verify_ledger(chain) == []
