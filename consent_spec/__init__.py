"""Porta's consent specification: JSON Schemas, test vectors and a validator.

The normative text is ``SPEC.md`` in this package. Public API:

- :func:`validate` checks a document and returns every problem with its JSON path;
- :func:`verify_receipt` verifies a signed consent receipt against a JWKS;
- :func:`chain_hash` computes a consent ledger entry's hash; :func:`verify_chain`
  checks a ledger's hash links and transitions, :func:`verify_ledger` all its rules;
- :func:`to_kantara` renders a consent record as a Kantara Consent Receipt 1.1;
- :func:`load_schema` returns a schema by kind; :data:`KINDS` lists the kinds;
- :data:`SPEC_VERSION` is the version of the specification implemented.

This package depends on neither the provider (``idp``) nor Flask.
"""

from .issues import ValidationIssue
from .kantara import KantaraFormError, to_kantara
from .ledger import (
    GENESIS_HASH,
    canonical_json,
    chain_hash,
    ledger_head,
    verify_chain,
    verify_ledger,
)
from .lifecycle import (
    DPV_STATUS,
    TRANSITIONS,
    IllegalTransitionError,
    check_transition,
    is_legal_transition,
)
from .receipt import (
    ALLOWED_ALGORITHMS,
    RECEIPT_TYP,
    ReceiptVerificationError,
    sign_receipt,
    verify_receipt,
)
from .schemas import BASE_URI, KINDS, SPEC_VERSION, UnknownKindError, load_schema, schema_id
from .validate import detect_kind, is_valid, validate

__all__ = [
    "ALLOWED_ALGORITHMS",
    "BASE_URI",
    "DPV_STATUS",
    "GENESIS_HASH",
    "KINDS",
    "RECEIPT_TYP",
    "SPEC_VERSION",
    "TRANSITIONS",
    "IllegalTransitionError",
    "KantaraFormError",
    "ReceiptVerificationError",
    "UnknownKindError",
    "ValidationIssue",
    "canonical_json",
    "chain_hash",
    "check_transition",
    "detect_kind",
    "is_legal_transition",
    "is_valid",
    "ledger_head",
    "load_schema",
    "schema_id",
    "sign_receipt",
    "to_kantara",
    "validate",
    "verify_chain",
    "verify_ledger",
    "verify_receipt",
]
