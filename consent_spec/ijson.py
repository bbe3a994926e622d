"""The I-JSON check that runs before any schema (SPEC.md section 3.5; RFC 7493).

Documents of this specification are I-JSON messages: strings are sequences of
Unicode scalar values (RFC 7493 section 2.1, so no lone surrogates), numbers are
finite and within ±(2^53 - 1), the range where IEEE 754 doubles hold every
integer exactly (RFC 7493 section 2.2), which is also what JCS (RFC 8785 section
3.2.2.3) canonicalizes alike. The bound applies to every number, however it is
written, because a parser that reads numbers as doubles cannot tell ``1e300``
from an integer. Nesting is bounded (section 17, input size), so that neither a
validator nor a verifier runs out of stack.

The walk is iterative: a document nested far deeper than the bound is reported,
never recursed into.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .issues import ValidationIssue, format_path

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a document may have (SPEC.md section 3.5)."""

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer magnitude I-JSON allows (RFC 7493 section 2.2)."""

_MAX_REPORTED = 50
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_i_json(document: Any) -> list[ValidationIssue]:
    """Return an ``i-json`` issue for each value that is not interoperable JSON.

    Reports numbers beyond ±(2**53 - 1) (integers or not), NaN and infinities, strings and member
    names holding surrogate code points, and nesting deeper than
    :data:`MAX_DEPTH`. At most 50 issues are returned. Values of other Python types
    (sets, bytes…) are left to the schema, which reports their type.
    """
    issues: list[ValidationIssue] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack and len(issues) < _MAX_REPORTED:
        value, path = stack.pop()
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if abs(value) > MAX_SAFE_INTEGER:
                issues.append(
                    ValidationIssue(format_path(path), "integer outside the I-JSON range of ±(2^53 - 1) (RFC 7493 section 2.2)", "i-json")
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                issues.append(ValidationIssue(format_path(path), "NaN and infinities are not JSON numbers (RFC 8259 section 6)", "i-json"))
            elif abs(value) > MAX_SAFE_INTEGER:
                # SPEC.md 3.5 bounds every number, however written: a parser that reads
                # JSON numbers as doubles cannot tell 1e300 from an integer.
                issues.append(ValidationIssue(format_path(path), "number outside the range of ±(2^53 - 1) (SPEC.md section 3.5)", "i-json"))
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                issues.append(
                    ValidationIssue(format_path(path), "string holds a lone surrogate, which is not a Unicode character (RFC 7493 section 2.1)", "i-json")
                )
        elif isinstance(value, dict | list):
            if len(path) >= MAX_DEPTH:
                issues.append(ValidationIssue(format_path(path), f"nested deeper than {MAX_DEPTH} levels (SPEC.md section 3.5)", "i-json"))
                continue
            if isinstance(value, list):
                stack.extend((item, (*path, index)) for index, item in reversed(list(enumerate(value))))
                continue
            for name, item in reversed(list(value.items())):
                if isinstance(name, str) and _SURROGATE.search(name):
                    issues.append(
                        ValidationIssue(format_path(path), "a member name holds a lone surrogate, which is not a Unicode character (RFC 7493 section 2.1)", "i-json")
                    )
                    continue
                stack.append((item, (*path, name)))
    return issues
