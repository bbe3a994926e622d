"""Load the consent specification's JSON Schemas by kind.

The schemas are JSON Schema draft 2020-12 documents shipped inside the package
(``consent_spec/schemas/<kind>.schema.json``). Each has a stable ``$id`` under
:data:`BASE_URI`, which carries :data:`SPEC_VERSION`; cross-schema ``$ref`` values
are resolved from the packaged files only, never fetched over the network
(SPEC.md section 3).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .formats import is_email
from .times import is_date_time

SPEC_VERSION = "1.0"
"""Version of the Porta consent specification implemented by this package."""

BASE_URI = f"https://porta.example/consent-spec/{SPEC_VERSION}/"
"""Prefix of every schema ``$id`` and of the event type URIs (SPEC.md section 3)."""

KINDS: tuple[str, ...] = (
    "consent-request",
    "consent-record",
    "consent-receipt",
    "withdrawal",
    "person-terms",
    "claims-catalogue",
    "portable-profile",
    "consent-event",
)
"""Document kinds, one schema each. ``defs`` holds shared definitions and is not a kind."""

_ALL_SCHEMAS = (*KINDS, "defs")


class UnknownKindError(ValueError):
    """Raised when a caller names a document kind the specification does not define."""

    def __init__(self, kind: object) -> None:
        super().__init__(f"unknown document kind {kind!r}; expected one of: {', '.join(KINDS)}")
        self.kind = kind


def schema_id(kind: str) -> str:
    """Return the ``$id`` URI of the schema for ``kind``."""
    _check_kind(kind, allow_defs=True)
    return f"{BASE_URI}{kind}.schema.json"


def load_schema(kind: str) -> dict[str, Any]:
    """Return a fresh copy of the JSON Schema for ``kind`` (for example ``"consent-record"``).

    Raises :class:`UnknownKindError` for a name that is not in :data:`KINDS`
    (``"defs"`` is accepted too, for the shared definitions).
    """
    _check_kind(kind, allow_defs=True)
    return copy.deepcopy(_read_schema(kind))


def kind_for_schema_id(uri: str) -> str | None:
    """Return the kind whose schema has ``$id`` ``uri``, or ``None``."""
    for kind in KINDS:
        if schema_id(kind) == uri:
            return kind
    return None


@cache
def registry() -> Registry:
    """A ``referencing`` registry holding every packaged schema under its ``$id``.

    It has no retrieval hook, so a ``$ref`` to anything outside the package fails
    instead of reaching the network.
    """
    pairs = []
    for name in _ALL_SCHEMAS:
        schema = _read_schema(name)
        pairs.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)))
    return Registry().with_resources(pairs)


@cache
def format_checker() -> FormatChecker:
    """Draft 2020-12 format assertions, with ``date-time`` read as RFC 3339 says.

    The stock checker rejects leap seconds (``23:59:60Z``), which RFC 3339 section
    5.7 allows; SPEC.md section 3.3 requires accepting them. ``email`` is checked
    as SPEC.md 3.3 defines it, not as loosely or strictly as a library chooses.
    """
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("date-time")(is_date_time)
    checker.checks("email")(is_email)
    return checker


@cache
def validator_for(kind: str) -> Draft202012Validator:
    """Return a draft 2020-12 validator for ``kind`` with format checking switched on."""
    _check_kind(kind)
    return Draft202012Validator(
        _read_schema(kind),
        registry=registry(),
        format_checker=format_checker(),
    )


@cache
def _read_schema(name: str) -> dict[str, Any]:
    text = resources.files("consent_spec").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def _check_kind(kind: object, *, allow_defs: bool = False) -> None:
    if kind in KINDS or (allow_defs and kind == "defs"):
        return
    raise UnknownKindError(kind)
