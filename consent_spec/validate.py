"""Validate consent documents: schema first, then the cross-member rules of SPEC.md.

Invalid data never raises; every problem comes back as a :class:`ValidationIssue`
with its JSON path. Only misuse raises (an unknown ``kind``). A document is first
checked to be I-JSON within the nesting bound (SPEC.md section 3.5), which keeps
huge integers, lone surrogates and deep nesting away from the schema and the
rules.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import ValidationError

from .ijson import check_i_json
from .issues import ValidationIssue, format_path
from .rules import RULES
from .schemas import KINDS, UnknownKindError, kind_for_schema_id, validator_for

_MAX_SHOWN = 80


def detect_kind(document: Any) -> str | None:
    """Guess a document's kind: from its ``$schema`` member, else from the JWT shapes.

    Consent receipts and consent events are JWT claims sets and carry no ``$schema``;
    they are recognised by ``consent_record`` and ``events``. Returns ``None`` when
    the kind cannot be told.
    """
    if not isinstance(document, dict):
        return None
    declared = document.get("$schema")
    if isinstance(declared, str):
        return kind_for_schema_id(declared)
    if "consent_record" in document:
        return "consent-receipt"
    if "events" in document and "iss" in document:
        return "consent-event"
    return None


def validate(document: Any, kind: str | None = None) -> list[ValidationIssue]:
    """Return every problem in ``document`` as a sorted list of :class:`ValidationIssue`.

    ``kind`` is one of :data:`consent_spec.KINDS` (for example ``"consent-record"``);
    when omitted it is detected with :func:`detect_kind`. An empty list means the
    document is valid. Raises :class:`consent_spec.UnknownKindError` only for a
    ``kind`` the specification does not define.

    >>> validate({"spec_version": "1.0"}, kind="withdrawal")[0].path
    '$'
    """
    if kind is None:
        kind = detect_kind(document)
        if kind is None:
            return [
                ValidationIssue(
                    "$",
                    "cannot tell the document kind: add a '$schema' member naming its schema $id, or pass kind",
                    "kind",
                )
            ]
    elif kind not in KINDS:
        raise UnknownKindError(kind)
    not_i_json = check_i_json(document)
    if not_i_json:
        # SPEC.md section 3.5: a document that is not I-JSON is not checked further;
        # its values cannot be shown, compared or hashed alike by every implementation.
        return sorted(set(not_i_json))
    declared = document.get("$schema") if isinstance(document, dict) else None
    if isinstance(declared, str) and kind_for_schema_id(declared) not in (None, kind):
        return [ValidationIssue("$.$schema", f"document declares kind {kind_for_schema_id(declared)!r}, not {kind!r}", "kind")]
    issues = [_to_issue(error) for error in validator_for(kind).iter_errors(document)]
    if not issues:
        rule_check = RULES.get(kind)
        issues = rule_check(document) if rule_check else []
    return sorted(set(issues))


def is_valid(document: Any, kind: str | None = None) -> bool:
    """Shorthand for ``not validate(document, kind)``."""
    return not validate(document, kind)


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys that are not strings, circular data
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _to_issue(error: ValidationError) -> ValidationIssue:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.validator_value
    if "propertyNames" in error.absolute_schema_path:
        # The error comes from checking a member name; report it as such.
        name = _short(error.instance)
        hint = schema.get("description") if keyword in {"anyOf", "oneOf"} else error.message
        return ValidationIssue(format_path(path), f"member name {name} is not allowed here: {hint}", "propertyNames")
    if keyword == "required":
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else str(value)
        message = f"required member {missing!r} is missing"
    elif keyword == "additionalProperties" and value is False:
        message = error.message.replace("Additional properties are not allowed", "member not allowed here")
    elif keyword == "unevaluatedProperties":
        message = "member not allowed here: " + error.message.split("(", 1)[-1].rstrip(")")
    elif keyword == "not" and isinstance(value, dict) and list(value) == ["required"]:
        message = f"member {value['required'][0]!r} must not be present here"
    elif keyword in {"anyOf", "oneOf"}:
        hint = schema.get("description")
        message = f"{_short(error.instance)} is not a valid value" + (f": {hint}" if hint else "")
    elif keyword == "format":
        message = f"{_short(error.instance)} is not a valid {value}"
    elif keyword in {"minProperties", "maxProperties"} and isinstance(error.instance, dict):
        bound = "at least" if keyword == "minProperties" else "at most"
        message = f"has {len(error.instance)} member(s); {bound} {value} allowed here"
    elif keyword in {"minItems", "maxItems"} and isinstance(error.instance, list):
        bound = "at least" if keyword == "minItems" else "at most"
        message = f"has {len(error.instance)} item(s); {bound} {value} allowed here"
    else:
        message = error.message if len(error.message) <= 200 else f"{_short(error.instance)} fails '{keyword}'"
    return ValidationIssue(format_path(path), message, keyword)
