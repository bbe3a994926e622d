"""The error value returned by validation: a JSON path and a message."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


@dataclass(frozen=True, order=True)
class ValidationIssue:
    """One problem found in a document.

    ``path`` is a JSONPath (RFC 9535 syntax: ``$`` is the root, ``.name`` or
    ``['name']`` a member, ``[0]`` an item) to the offending value, ``message`` says what is wrong, and ``rule`` names the broken
    rule: a JSON Schema keyword (``required``, ``type``…) or a rule of SPEC.md
    (``record-claims-requested``…).
    """

    path: str
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def format_path(parts: Iterable[Any]) -> str:
    """Render path members as ``$.a.b[0]['https://x']``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(str(part)):
            out.append(f".{part}")
        else:
            escaped = str(part).replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)
