"""Find, for every location in a document, the schema nodes that apply to it.

Used by the mutation tests: a member the applicable schemas list as ``required`` must
be rejected when removed, and a value they constrain (type, enum, const, pattern,
format) must be rejected when replaced by a value of another JSON type. The walk
follows ``$ref``, ``allOf``, ``if``/``then``/``else`` (evaluating ``if``),
``properties``, ``additionalProperties`` and ``items``; it does not need
``anyOf`` branches, whose constraints are checked as a whole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from consent_spec.schemas import registry, schema_id

Path = tuple[Any, ...]
_CONSTRAINING = {"type", "enum", "const", "pattern", "format"}


@dataclass
class Facts:
    """What the schemas say about each location of one document."""

    required: dict[Path, set[str]] = field(default_factory=lambda: defaultdict(set))
    constrained: set[Path] = field(default_factory=set)


def _is_constraining(node: Any, resolver: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        if _is_constraining(resolved.contents, resolved.resolver):
            return True
    if _CONSTRAINING & node.keys():
        return True
    branches = node.get("anyOf") or node.get("oneOf")
    return bool(branches) and all(_is_constraining(branch, resolver) for branch in branches)


def _matches(node: Any, instance: Any) -> bool:
    # The "if" schemas of consent_spec test member values only and hold no $ref.
    return Draft202012Validator(node, registry=registry()).is_valid(instance)


def _walk(node: Any, resolver: Any, instance: Any, path: Path, facts: Facts) -> None:
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        _walk(resolved.contents, resolved.resolver, instance, path, facts)
    if _is_constraining(node, resolver) and path:
        facts.constrained.add(path)
    for sub in node.get("allOf", []):
        _walk(sub, resolver, instance, path, facts)
    if "if" in node:
        branch = node.get("then") if _matches(node["if"], instance) else node.get("else")
        if branch is not None:
            _walk(branch, resolver, instance, path, facts)
    if isinstance(instance, dict):
        if isinstance(node.get("required"), list):
            facts.required[path].update(node["required"])
        properties = node.get("properties", {})
        for name, value in instance.items():
            if name in properties:
                _walk(properties[name], resolver, value, (*path, name), facts)
            elif isinstance(node.get("additionalProperties"), dict):
                _walk(node["additionalProperties"], resolver, value, (*path, name), facts)
    if isinstance(instance, list) and isinstance(node.get("items"), dict):
        for index, value in enumerate(instance):
            _walk(node["items"], resolver, value, (*path, index), facts)


def schema_facts(kind: str, document: Any) -> Facts:
    """Walk ``document`` against the schema of ``kind``."""
    facts = Facts()
    resolved = registry().resolver().lookup(schema_id(kind))
    _walk(resolved.contents, resolved.resolver, document, (), facts)
    return facts


def get(document: Any, path: Path) -> Any:
    """The value at ``path``."""
    for part in path:
        document = document[part]
    return document


def corrupt(value: Any) -> Any:
    """A value of a different JSON type than ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"not": "an array"}
    if isinstance(value, dict):
        return ["not", "an object"]
    return "null"
