"""The history a person brought from other providers (consent_spec SPEC.md §12): kept, re-checked
and shown, never taken as consent given here."""

from __future__ import annotations

from typing import Any

import consent_spec
from idp.base.clock import timestamp
from idp.storage import Store
from idp.storage.models import ImportedConsentRecord


def imported_history(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The person's imported ledgers, one per import, each re-checked (SPEC.md §8).

    Each import lists its relationships (by the exporter's client_id) with the
    state of their newest record and the persona it released there (now one of
    the person's personas here); ``intact`` says the stored chain still hashes to
    the head recorded at import.
    """
    unsigned = {row.export_id for row in store.imports_of(user_id) if row.self_asserted}
    imports: dict[str, list[ImportedConsentRecord]] = {}
    for row in store.imported_records(user_id):
        imports.setdefault(row.export_id, []).append(row)
    out = []
    for export_id, rows in imports.items():
        documents = [row.document for row in rows]
        intact = not consent_spec.verify_chain(documents) and (
            consent_spec.ledger_head(documents) == rows[-1].entry_hash
        )
        relationships: dict[str, dict[str, Any]] = {}
        for row in rows:
            rp = row.document["request"]["relying_party"]
            rel = relationships.setdefault(
                row.client_id,
                {
                    "client_id": row.client_id,
                    "name": rp.get("name") or row.client_id,
                    "since": row.document["decided_at"],
                    "records": 0,
                },
            )
            rel["state"] = row.state
            rel["last"] = row.document["recorded_at"]
            rel["records"] += 1
            persona = store.get_persona(row.persona_id) if row.persona_id else None
            rel["persona"] = (
                persona.name if persona is not None and persona.user_id == user_id else None
            )
        out.append(
            {
                "export_id": export_id,
                "issuer": rows[0].issuer,
                "exported_at": timestamp(rows[0].exported_at),
                "imported_at": timestamp(rows[0].imported_at),
                "ledger_head": rows[-1].entry_hash,
                "records": len(rows),
                "intact": intact,
                # An unsigned export: nothing in it was verified (SPEC.md §12.1 form 3).
                "self_asserted": export_id in unsigned,
                "relationships": list(relationships.values()),
            }
        )
    return out
