"""What the person's dashboard and its JSON API show: every relationship, derived from the ledger."""

from __future__ import annotations

from typing import Any

from idp.base.context import Context
from idp.consent import events, ledger
from idp.profile.personas import get_persona
from idp.storage.models import ConsentRecord


def _iso(moment: Any) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def _persona_name(ctx: Context, user_id: str, persona_id: str | None) -> str:
    persona = get_persona(ctx.store, user_id, persona_id)
    return persona.name if persona is not None else "Your profile"


def relationship_ids(ctx: Context, user_id: str) -> list[str]:
    """Client ids the person has a ledger history with, most recent first."""
    return ctx.store.relationship_client_ids(user_id)


def relationship(
    ctx: Context, user_id: str, client_id: str, *, full: bool = False
) -> dict[str, Any] | None:
    """One relationship: the RP, since when, current state, what it receives and why."""
    records = ledger.records_of(ctx.store, user_id, client_id)
    if not records:
        return None
    client = ctx.store.get_client(client_id)
    latest = records[-1]
    doc = latest.document
    request = doc["request"]
    granted = doc.get("granted", {}) if latest.state in ledger.ACTIVE else {}
    last_access = ctx.store.last_disclosure_at(user_id, client_id)
    body: dict[str, Any] = {
        "client_id": client_id,
        "name": (client.metadata_.get("client_name") if client else None)
        or request["relying_party"]["name"],
        "relying_party": request["relying_party"],
        "since": _iso(records[0].recorded_at),
        "state": latest.state,
        "active": latest.state in ledger.ACTIVE,
        "record_id": latest.record_id,
        "expires_at": doc.get("expires_at"),
        "shared": [
            {
                "claim": name,
                "purposes": grant["purposes"],
                "retention": request["claims"].get(name, {}).get("retention"),
                "essential": request["claims"].get(name, {}).get("essential", False),
            }
            for name, grant in granted.items()
        ],
        "refused": doc.get("refused", []) if latest.state in ledger.ACTIVE else [],
        "persona": _persona_name(ctx, user_id, latest.persona_id)
        if latest.state in ledger.ACTIVE
        else None,
        "persona_id": latest.persona_id if latest.state in ledger.ACTIVE else None,
        "last_access": _iso(last_access),
        "receipts": [
            {
                "record_id": r.record_id,
                "state": r.state,
                "recorded_at": _iso(r.recorded_at),
                "sequence": r.sequence,
            }
            for r in reversed(records)
        ],
    }
    if full:
        body["disclosures"] = [
            {"at": _iso(d.at), "channel": d.channel, "claims": d.claims}
            for d in ctx.store.disclosures(user_id, client_id, limit=200)
        ]
        body["deliveries"] = [
            {
                "id": row.id,
                "event_type": row.event_type,
                "status": row.status,
                "attempts": row.attempts,
                "created_at": _iso(row.created_at),
                "delivered_at": _iso(row.delivered_at),
                "last_error": row.last_error,
            }
            for row in events.deliveries_for(ctx.store, user_id, client_id)
        ]
    return body


def relationships(ctx: Context, user_id: str) -> list[dict[str, Any]]:
    """Every relationship of the person."""
    found = (relationship(ctx, user_id, client_id) for client_id in relationship_ids(ctx, user_id))
    return [r for r in found if r is not None]


def own_record(ctx: Context, user_id: str, record_id: str) -> ConsentRecord | None:
    """A ledger record, only if it is the person's own."""
    record = ctx.store.get_consent_record(record_id)
    if record is None or record.user_id != user_id:
        return None
    return record
