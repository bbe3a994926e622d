"""What export, import and deletion share: their errors, media types and value encodings."""

from __future__ import annotations

from importlib import metadata
from typing import Any

EXPORT_TYP = "portable-profile+jwt"
"""JWS ``typ`` of a signed export (SPEC.md §12.1, RFC 8725 §3.11 explicit typing)."""
LEGACY_EXPORT_TYP = "portable-profile+json"  # written by 0.1; still accepted (SPEC.md §12.1)
VERIFIED_CLAIMS_TYP = "verified-claims+jwt"
"""JWS ``typ`` of an issuer-signed verified claim (SPEC.md §12.2)."""
EXPORT_ALG = "ES256"  # RECOMMENDED by SPEC.md §7.1
MAX_EXPORT_AGE_DAYS = 30  # SPEC.md §12.3 step 4, for exports without expires_at


class ExportError(RuntimeError):
    """The person's data cannot be written as a valid portable-profile (names the member)."""


class ImportRefusedError(ValueError):
    """An export that is not imported; nothing of it was kept.

    ``path`` names what is wrong: a JSONPath into the document (``$.personas[1].label``),
    ``header.<name>`` for the JWS protected header, ``signature``, ``passphrase`` or
    ``password``.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class DeletionRefusedError(ValueError):
    """An account deletion that was not done (wrong password)."""


def software() -> str:
    """This provider's name and version, for ``exporter.software``."""
    try:
        return f"Porta {metadata.version('porta')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "Porta"


def claim_values(values: dict[str, Any]) -> dict[str, Any]:
    """Claim values as SPEC.md §12 writes them: empty values left out, phone numbers in E.164.

    People type ``+44 20 7946 0000``; OIDC Core §5.1 asks for E.164, which has no
    separators, so spaces, dots, dashes and brackets are dropped from a ``+`` number.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if name == "phone_number" and isinstance(value, str) and value.strip().startswith("+"):
            value = "+" + "".join(ch for ch in value if ch.isdigit())
        out[name] = value
    return out
