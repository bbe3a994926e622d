"""Access to the test vectors shipped with the specification (SPEC.md section 15).

``vectors/valid/<kind>/*.json`` must validate; ``vectors/invalid/<kind>/*.json``
must not, and ``vectors/invalid/manifest.json`` says which rule each one breaks and
where. ``vectors/receipt/`` holds signed receipts with their JWKS and
``vectors/ledger/`` hash-chain vectors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any


@dataclass(frozen=True)
class Vector:
    """One test vector: its name (``<kind>/<file>``), kind, document and expectation.

    For invalid vectors ``rule`` is the rule broken and ``path`` the JSON path of an
    error the validator must report.
    """

    name: str
    kind: str
    document: Any
    valid: bool
    rule: str | None = None
    path: str | None = None
    description: str | None = None


def vectors_root() -> Traversable:
    """The packaged ``vectors`` directory."""
    return resources.files("consent_spec").joinpath("vectors")


def _read_json(item: Traversable) -> Any:
    return json.loads(item.read_text("utf-8"))


def _documents(folder: Traversable) -> Iterator[tuple[str, str, Traversable]]:
    for kind_dir in sorted(folder.iterdir(), key=lambda item: item.name):
        if not kind_dir.is_dir():
            continue
        for item in sorted(kind_dir.iterdir(), key=lambda item: item.name):
            if item.name.endswith(".json"):
                yield kind_dir.name, f"{kind_dir.name}/{item.name}", item


def valid_vectors() -> list[Vector]:
    """Every document that must validate."""
    root = vectors_root().joinpath("valid")
    return [Vector(name, kind, _read_json(item), True) for kind, name, item in _documents(root)]


def invalid_manifest() -> dict[str, dict[str, str]]:
    """``vectors/invalid/manifest.json``: vector name -> rule, path and description."""
    return _read_json(vectors_root().joinpath("invalid", "manifest.json"))


def invalid_vectors() -> list[Vector]:
    """Every document that must be rejected, with the rule it breaks."""
    manifest = invalid_manifest()
    root = vectors_root().joinpath("invalid")
    out = []
    for kind, name, item in _documents(root):
        entry = manifest.get(name, {})
        out.append(Vector(name, kind, _read_json(item), False, entry.get("rule"), entry.get("path"), entry.get("description")))
    return out


def receipt_vectors() -> dict[str, Any]:
    """``vectors/receipt/manifest.json`` plus the receipt texts and the JWKS it names."""
    folder = vectors_root().joinpath("receipt")
    manifest = _read_json(folder.joinpath("manifest.json"))
    return {
        "jwks": _read_json(folder.joinpath(manifest["jwks"])),
        "receipts": [
            {**entry, "jwt": folder.joinpath(entry["file"]).read_text("utf-8").strip()} for entry in manifest["receipts"]
        ],
        "issuer": manifest["issuer"],
    }


def ledger_vectors() -> list[dict[str, Any]]:
    """Every hash-chain vector in ``vectors/ledger/``."""
    folder = vectors_root().joinpath("ledger")
    return [_read_json(item) for item in sorted(folder.iterdir(), key=lambda item: item.name) if item.name.endswith(".json")]


def lineage_vectors(valid: bool) -> dict[str, dict[str, Any]]:
    """Ledgers in ``vectors/ledger/valid/`` or ``vectors/ledger/invalid/`` (SPEC.md section 6.3).

    Keyed by file name. Each has ``entries`` and ``description``; a valid one also
    ``expected_hashes`` and ``head``, an invalid one the ``rule`` it breaks and the
    JSON ``path`` (relative to the ledger array) of the error.
    """
    folder = vectors_root().joinpath("ledger", "valid" if valid else "invalid")
    return {
        item.name: _read_json(item)
        for item in sorted(folder.iterdir(), key=lambda item: item.name)
        if item.name.endswith(".json")
    }


def jcs_vectors() -> list[dict[str, Any]]:
    """``vectors/jcs/cases.json``: RFC 8785 inputs with their canonical form and SHA-256."""
    return _read_json(vectors_root().joinpath("jcs", "cases.json"))["cases"]
