"""The schemas themselves: metaschema-valid, versioned identifiers, local references."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

import consent_spec
from consent_spec import BASE_URI, KINDS, SPEC_VERSION, UnknownKindError, load_schema, schema_id
from consent_spec.schemas import validator_for

ALL = (*KINDS, "defs")


@pytest.mark.parametrize("name", ALL)
def test_schema_is_valid_against_the_2020_12_metaschema(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", ALL)
def test_schema_id_is_stable_and_carries_the_version(name: str) -> None:
    schema = load_schema(name)
    assert schema["$id"] == schema_id(name) == f"{BASE_URI}{name}.schema.json"
    assert f"/{SPEC_VERSION}/" in schema["$id"]


def test_every_packaged_schema_file_is_a_known_kind() -> None:
    files = {item.name for item in resources.files("consent_spec").joinpath("schemas").iterdir()}
    assert files == {f"{name}.schema.json" for name in ALL}


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("kind", KINDS)
def test_every_reference_resolves_locally(kind: str) -> None:
    resolver = consent_spec.schemas.registry().resolver(base_uri=schema_id(kind))
    refs = _refs(load_schema(kind))
    for ref in refs:
        assert not ref.startswith("http"), "references are relative to the packaged schemas"
        resolver.lookup(ref)


def test_shared_definitions_live_in_defs() -> None:
    """Each kind's reusable types come from defs.schema.json, not from copies."""
    for kind in KINDS:
        assert any(ref.startswith("defs.schema.json#/$defs/") for ref in _refs(load_schema(kind)))


def test_spec_version_constant_matches_the_schemas() -> None:
    assert load_schema("defs")["$defs"]["spec_version"]["const"] == SPEC_VERSION == consent_spec.SPEC_VERSION


def test_load_schema_returns_a_copy() -> None:
    schema = load_schema("consent-record")
    schema["required"].clear()
    assert load_schema("consent-record")["required"]


def test_unknown_kind_is_misuse() -> None:
    with pytest.raises(UnknownKindError, match="consent-recrod"):
        load_schema("consent-recrod")
    with pytest.raises(UnknownKindError):
        consent_spec.validate({}, kind="consent-recrod")


def test_closed_objects_have_additional_properties_false() -> None:
    """Every object type with named members is closed, except the documented open places."""
    # authorization_detail: RFC 9396 type-specific members; claim_values: custom claim
    # values; common: closed by unevaluatedProperties in the payloads that use it.
    open_by_design = {"authorization_detail", "claim_values", "common"}

    def walk(node: object, name: str) -> list[str]:
        problems = []
        if isinstance(node, dict):
            named = node.get("type") == "object" and "properties" in node and name not in open_by_design
            closed = node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False
            if named and not closed:
                problems.append(name)
            for key, value in node.items():
                problems += walk(value, key)
        elif isinstance(node, list):
            for value in node:
                problems += walk(value, name)
        return problems

    for kind in ALL:
        assert walk(load_schema(kind), kind) == [], kind


def test_format_assertion_is_switched_on() -> None:
    validator = validator_for("withdrawal")
    assert validator.format_checker is not None
    assert validator.format_checker.conforms("2026-11-20T09:00:00Z", "date-time")
    assert not validator.format_checker.conforms("yesterday", "date-time")


def test_schemas_are_pure_json() -> None:
    for item in resources.files("consent_spec").joinpath("schemas").iterdir():
        json.loads(item.read_text("utf-8"))


SPEC = resources.files("consent_spec").joinpath("SPEC.md").read_text("utf-8")


def _property_names(node: object) -> set[str]:
    if isinstance(node, dict):
        names = set(node.get("properties", {})) if isinstance(node.get("properties"), dict) else set()
        return names | {name for value in node.values() for name in _property_names(value)}
    if isinstance(node, list):
        return {name for value in node for name in _property_names(value)}
    return set()


@pytest.mark.parametrize("kind", ALL)
def test_every_member_of_every_schema_is_documented_in_spec_md(kind: str) -> None:
    names = _property_names(load_schema(kind)) - {"$schema"}
    names = {name for name in names if not name.startswith("https://")} | {
        name.rsplit("/", 1)[-1] for name in _property_names(load_schema(kind)) if name.startswith("https://")
    }
    assert sorted(name for name in names if f"`{name}`" not in SPEC and f"/{name}`" not in SPEC) == []


def test_purpose_vocabulary_matches_spec_md_and_kantara_view() -> None:
    tokens = load_schema("defs")["$defs"]["purpose_token"]["enum"]
    section = SPEC.split("### 4.2 Purpose vocabulary", 1)[1].split("### 4.3", 1)[0]
    documented = re.findall(r"^\| `([a-z-]+)` \| `dpv:[A-Za-z]+` \|$", section, flags=re.MULTILINE)
    assert documented == tokens
    from consent_spec import kantara

    assert set(kantara._PURPOSE_CATEGORY) == set(tokens) == set(kantara._PURPOSE_TEXT)
