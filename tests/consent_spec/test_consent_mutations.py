"""Generated mutations of every valid vector must be rejected.

For each valid vector: removing any member that the applicable schemas list as
required, and replacing any value the schemas constrain by a value of another JSON
type, must be rejected by the schema itself (not only by the rules that run after
it). This keeps the schemas from being
looser than SPEC.md says (a misplaced ``required``, a vacuous ``if``, a lost
``$ref`` would all show here).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from consent_spec.schemas import validator_for
from consent_spec.vectors import Vector, valid_vectors

from .schema_walk import corrupt, get, schema_facts

VALID = valid_vectors()
RECORDS = [v.document for v in VALID if v.kind == "consent-record"]


def _covered_elsewhere(vector: Vector, path: tuple[Any, ...]) -> bool:
    """Ledger entries after the first in an export are record vectors of their own.

    Mutating them again inside the export would only re-run the consent-record
    schema through the same ``items`` reference, at the cost of validating the
    whole export each time; ``test_export_ledger_entries_are_record_vectors``
    keeps this shortcut honest.
    """
    return vector.kind == "portable-profile" and len(path) >= 2 and path[0] == "ledger" and path[1] >= 1


def test_export_ledger_entries_are_record_vectors() -> None:
    for vector in VALID:
        if vector.kind == "portable-profile":
            for entry in vector.document["ledger"][1:]:
                assert entry in RECORDS


def _removals(vector: Vector) -> list[tuple[tuple[Any, ...], str]]:
    facts = schema_facts(vector.kind, vector.document)
    out = []
    for path, names in facts.required.items():
        container = get(vector.document, path)
        if not _covered_elsewhere(vector, path):
            out.extend((path, name) for name in sorted(names) if name in container)
    return out


@pytest.mark.parametrize("vector", VALID, ids=[v.name for v in VALID])
def test_removing_any_required_member_is_rejected(vector: Vector) -> None:
    assert validator_for(vector.kind).is_valid(vector.document)
    removals = _removals(vector)
    assert removals, "every document has required members"
    accepted = []
    for path, name in removals:
        mutated = copy.deepcopy(vector.document)
        del get(mutated, path)[name]
        if validator_for(vector.kind).is_valid(mutated):
            accepted.append((*path, name))
    assert accepted == []


@pytest.mark.parametrize("vector", VALID, ids=[v.name for v in VALID])
def test_corrupting_any_typed_value_is_rejected(vector: Vector) -> None:
    facts = schema_facts(vector.kind, vector.document)
    constrained = sorted((path for path in facts.constrained if not _covered_elsewhere(vector, path)), key=repr)
    assert constrained, "every document has typed values"
    accepted = []
    for path in constrained:
        mutated = copy.deepcopy(vector.document)
        parent = get(mutated, path[:-1])
        parent[path[-1]] = corrupt(parent[path[-1]])
        if validator_for(vector.kind).is_valid(mutated):
            accepted.append(path)
    assert accepted == []


def test_mutation_walk_reaches_nested_documents() -> None:
    """The walk follows $ref into embedded documents (a record inside a receipt)."""
    receipt = next(v for v in VALID if v.kind == "consent-receipt")
    facts = schema_facts("consent-receipt", receipt.document)
    assert "relying_party" in facts.required[("consent_record", "request")]
    assert ("consent_record", "request", "claims", "email", "purposes", 0) in facts.constrained
