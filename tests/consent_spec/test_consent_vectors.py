"""Every vector is checked in both directions (SPEC.md section 15)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from consent_spec import KINDS, validate
from consent_spec.vectors import Vector, invalid_manifest, invalid_vectors, valid_vectors

VALID = valid_vectors()
INVALID = invalid_vectors()
SPEC = resources.files("consent_spec").joinpath("SPEC.md").read_text("utf-8")


@pytest.mark.parametrize("vector", VALID, ids=[v.name for v in VALID])
def test_valid_vector_is_accepted(vector: Vector) -> None:
    assert validate(vector.document, vector.kind) == []


@pytest.mark.parametrize("vector", VALID, ids=[v.name for v in VALID])
def test_valid_vector_with_schema_member_is_accepted_without_kind(vector: Vector) -> None:
    if "$schema" not in vector.document and vector.kind not in {"consent-receipt", "consent-event"}:
        issues = validate(vector.document)
        assert [issue.rule for issue in issues] == ["kind"]
    else:
        assert validate(vector.document) == []


@pytest.mark.parametrize("vector", INVALID, ids=[v.name for v in INVALID])
def test_invalid_vector_is_rejected_for_the_stated_rule(vector: Vector) -> None:
    issues = validate(vector.document, vector.kind)
    assert issues, "an invalid vector must be rejected"
    assert (vector.path, vector.rule) in {(issue.path, issue.rule) for issue in issues}, [str(i) for i in issues]


def test_manifest_describes_exactly_the_invalid_vectors() -> None:
    manifest = invalid_manifest()
    assert set(manifest) == {vector.name for vector in INVALID}
    for name, entry in manifest.items():
        assert set(entry) == {"rule", "path", "description"}, name
        assert entry["path"].startswith("$"), name
        assert entry["description"], name


def test_there_are_at_least_forty_vectors_covering_every_kind() -> None:
    assert len(VALID) + len(INVALID) >= 40
    assert {v.kind for v in VALID} == set(KINDS)
    assert {v.kind for v in INVALID} == set(KINDS)


def test_every_rule_name_used_by_a_vector_is_defined_in_spec_md() -> None:
    schema_keywords = {"required", "type", "enum", "const", "pattern", "format", "anyOf", "not", "propertyNames",
                       "additionalProperties", "minProperties", "maxProperties", "minItems"}
    for vector in INVALID:
        assert vector.rule in schema_keywords or f"`{vector.rule}`" in SPEC, vector.rule


def test_every_rule_the_validator_can_report_is_defined_in_spec_md() -> None:
    sources = "".join(
        resources.files("consent_spec").joinpath(name).read_text("utf-8") for name in ("rules.py", "ledger.py")
    )
    names = set(re.findall(r'"((?:record|receipt|ledger|lifecycle|withdrawal|terms|catalogue|profile|event)-[a-z-]+)"\)', sources))
    assert len(names) >= 15
    assert sorted(name for name in names if f"`{name}`" not in SPEC) == []


def test_every_lifecycle_state_has_a_valid_record_vector() -> None:
    states = {v.document["state"] for v in VALID if v.kind == "consent-record"}
    assert states == {"given", "refused", "renewed", "narrowed", "withdrawn", "expired", "superseded", "invalidated"}
