"""The person's consent operations, called alike by the consent page, the dashboard, the JSON API
and the CLI: grant, refuse, narrow, withdraw, expire (SPEC.md §5, §6, §9).

Each operation appends to the ledger and applies its effect in the same
transaction (the caller commits once): a crash never leaves a token without
its record or a record without its effect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from isoduration import parse_duration

from idp.base.clock import now
from idp.base.context import Context
from idp.consent import events, ledger
from idp.profile.claims import profile_value
from idp.profile.personas import get_persona, overlay, reference
from idp.profile.subjects import subject
from idp.storage.models import Client, ConsentRecord, Grant, User


class ConsentError(ValueError):
    """A consent operation that cannot be done (nothing to withdraw, unknown claim…)."""


@dataclass(frozen=True)
class Decision:
    """What the person decided on the consent screen, and the record that says so."""

    state: str  # a consent_spec state, or NOTHING_SHARED
    record: ConsentRecord | None
    receipt: str | None
    granted_claims: list[str]


# The person approved, but shared no claim (none ticked, or none had a value): a sign-in
# that releases nothing beyond the pairwise ``sub``. No record is written: a consent
# record that grants nothing is not a consent_spec state (SPEC.md §6).
NOTHING_SHARED = "nothing-shared"


def current(ctx: Context, user_id: str, client_id: str) -> ConsentRecord | None:
    """The active record of a relationship (given, renewed or narrowed and not expired), if any.

    A record whose ``expires_at`` has passed is expired on the spot (SPEC.md §6),
    so expiry takes effect even before any background job runs.
    """
    record = ledger.latest_record(ctx.store, user_id, client_id)
    if record is None or record.state not in ledger.ACTIVE:
        return None
    if record.expires_at is not None and record.expires_at <= now():
        expire(ctx, record)
        return None
    return record


def grant_still_consented(ctx: Context, grant: Grant) -> bool:
    """False when the consent a grant was issued under is no longer active.

    A consent past its expires_at is expired here and now, and committed at
    once, so an expiry takes effect at the first use of a token rather than at
    the next round of the background pump.
    """
    if grant.consent_record_id is None or grant.user_id is None:
        return True
    latest = ledger.latest_record(ctx.store, grant.user_id, grant.client_id)
    if latest is None or latest.state not in ledger.ACTIVE:
        return False
    if latest.expires_at is not None and latest.expires_at <= now():
        expire(ctx, latest)
        ctx.store.commit()
        return False
    return True


def released_claims(record: ConsentRecord | None) -> list[str]:
    """Claim names a record lets the RP receive."""
    if record is None:
        return []
    return list(record.document.get("granted", {}))


def chosen_claims(
    request: dict[str, Any] | None, *, required_only: bool, ticked: list[str]
) -> list[str]:
    """What the person chose to share: the boxes they ticked, or, with "Share only what's
    required", exactly the claims the site marked essential (one click, nothing optional)."""
    if not required_only:
        return list(ticked)
    asked = (request or {}).get("claims", {})
    return [name for name, spec in asked.items() if spec.get("essential")]


def last_shared(ctx: Context, user_id: str, client_id: str) -> list[str]:
    """The claims the person last chose to share with this site (none if never).

    The consent page starts from this, never from "everything" (DESIGN §4): after a
    withdrawal it is the choice made before it, which the person may make again.
    """
    for record in reversed(ctx.store.consent_records(user_id, client_id)):
        if record.document.get("granted"):
            return list(record.document["granted"])
    return []


# What the person agreed to about a claim: if any of these changes, the person is asked again.
TERMS = ("purposes", "retention", "third_party_disclosure", "legal_basis", "essential")


def covers(record: ConsentRecord | None, request: dict[str, Any]) -> bool:
    """True when this record decided every requested claim under the same terms.

    A site that changes what it does with a claim (purposes, retention,
    disclosure to third parties, legal basis) or starts to require it must ask
    the person again: the earlier decision was about other terms.
    """
    if record is None:
        return False
    doc = record.document
    decided = set(doc.get("granted", {})) | set(doc.get("refused", []))
    asked = request["claims"]
    if not set(asked) <= decided:
        return False
    before = doc["request"]["claims"]
    basis_before = doc["request"].get("legal_basis")
    for name, spec in asked.items():
        old = before.get(name)
        if old is None or request.get("legal_basis") != basis_before:
            return False
        if any(spec.get(term) != old.get(term) for term in TERMS):
            return False
    return True


def remembered(
    ctx: Context,
    user_id: str,
    client_id: str,
    request: dict[str, Any] | None,
    scopes: list[str],
) -> bool:
    """Whether the person already approved this exactly, so it is not asked again.

    With claims, the active record of the relationship must have decided every
    requested claim under the same terms (:func:`covers`) and approved every scope
    value asked for. A request for no claims at all (say ``openid offline_access``)
    has no consent-request document: a live grant of that client covering the
    scope values stands for the earlier approval.
    """
    if request is not None:
        record = current(ctx, user_id, client_id)
        return covers(record, request) and set(scopes) <= set(ledger.approved_scopes(record))
    return any(
        set(scopes) <= set(grant.scope.split())
        for grant in ctx.store.live_grants(user_id, client_id)
    )


def decide(
    ctx: Context,
    user: User,
    client: Client,
    request: dict[str, Any],
    chosen: list[str],
    *,
    approve: bool,
    persona_id: str | None = None,
    collection_method: str = "consent-screen",
    scopes: list[str] | None = None,
) -> Decision:
    """Record the person's answer to a consent request.

    Claims not ticked are refused. Withholding an essential claim the person could
    share (one with a value) is a refusal of the whole request (SPEC.md §5.2 rule
    5), as is pressing deny; a refusal is recorded too. An essential claim with no
    value is not withheld: there is nothing to share. Approving with nothing ticked
    is a sign-in that shares nothing (:data:`NOTHING_SHARED`), not a refusal. ``scopes`` are the scope values approved with the claims
    (offline_access among them): the record keeps them, so a later request for
    no more than this is approved from the ledger without asking (:func:`remembered`).
    """
    if persona_id and get_persona(ctx.store, user.id, persona_id) is None:
        raise ConsentError("that persona is not one of yours")
    asked = request["claims"]
    unknown = [c for c in chosen if c not in asked]
    if unknown:
        raise ConsentError(f"claims not asked for by this request: {', '.join(unknown)}")
    granted = {
        name: {"purposes": list(asked[name]["purposes"])}
        for name in asked
        if approve and name in chosen
    }
    values = overlay(get_persona(ctx.store, user.id, persona_id))
    essential_missing = [
        n
        for n, spec in asked.items()
        if spec.get("essential")
        and n not in granted
        and profile_value(user, n, values) not in (None, "")
    ]
    refusing = not approve or essential_missing
    if not refusing and not granted:
        return Decision(NOTHING_SHARED, None, None, [])
    ctx.store.lock_ledger(user.id)  # lock, then read: two tabs never extend the same head
    previous = ledger.latest_record(ctx.store, user.id, client.client_id)
    previous_state = previous.state if previous is not None else None
    replaces = previous if previous_state in ledger.ACTIVE | {"refused"} else None
    if refusing:
        state = "refused"
        if replaces is not None:
            # A refusal cannot follow an active consent (or a refusal) directly: the old
            # record is superseded and the refusal starts a lineage of its own.
            _end(ctx, replaces, "superseded", "consent-screen")
            replaces = None
        granted, refused = {}, list(asked)
    else:
        state = "renewed" if replaces is not None and replaces.state in ledger.ACTIVE else "given"
        refused = [name for name in asked if name not in granted]
    expires_at = _expiry(request, granted) if not refusing else None
    appended = ledger.append(
        ctx.store,
        ctx.keys,
        ctx.issuer,
        ledger.Entry(
            user_id=user.id,
            client_id=client.client_id,
            subject=subject(ctx, client, user.id),
            state=state,
            request=request,
            granted=granted,
            refused=refused,
            collection_method=collection_method,
            persona_id=persona_id,
            persona_ref=reference(persona_id, client.client_id, ctx.settings.secret_key),
            replaces=replaces,
            expires_at=expires_at,
            approved_scopes=None if refusing else list(scopes or ()),
        ),
    )
    released = released_claims(appended.row)
    if state == "renewed" and replaces is not None:
        _restrict_grants(ctx, user, client, replaces, appended.row)
    return Decision(state, appended.row, appended.receipt, released)


def _restrict_grants(
    ctx: Context, user: User, client: Client, old: ConsentRecord, new: ConsentRecord
) -> None:
    """Tokens issued under ``old`` release only what ``new`` still grants (SPEC.md §9).

    A renewal that leaves out claims granted before removes them as a narrowing
    does: the RP's existing tokens stop releasing them, and the RP is told.
    """
    still = released_claims(new)
    for grant in _grants_of(ctx, user.id, client.client_id):
        grant.granted_claims = [c for c in (grant.granted_claims or []) if c in still]
        grant.consent_record_id = new.record_id
    removed = [c for c in old.document.get("granted", {}) if c not in still]
    if removed:
        _notify(
            ctx,
            client,
            new,
            events.NARROWED,
            {"record_id": old.record_id, "new_record_id": new.record_id, "removed_claims": removed},
        )


def _expiry(request: dict[str, Any], granted: dict[str, Any]) -> datetime | None:
    """A consent lasts as long as the shortest retention counted from collection, if any."""
    durations = []
    for name in granted:
        retention = request["claims"][name].get("retention") or {}
        if retention.get("from") == "collection":
            durations.append(parse_duration(retention["duration"]))
    if not durations:
        return None
    start = now()
    return min(start + d for d in durations)


def _end(
    ctx: Context,
    record: ConsentRecord,
    state: str,
    collection_method: str,
    *,
    withdrawal_id: str | None = None,
) -> tuple[ledger.Appended, set[str]]:
    """End a lineage (withdrawn, expired, superseded): append the record that says so, revoke
    every grant of the relationship (SPEC.md §6.1: such a consent releases nothing; remembered
    approval, derived from the ledger, ends with it). Returns the record and the login sessions the grants came from.
    """
    appended = ledger.append_successor(
        ctx.store,
        ctx.keys,
        ctx.issuer,
        record,
        state,
        collection_method=collection_method,
        granted={},
        withdrawal_id=withdrawal_id,
    )
    sids = set()
    for grant in _grants_of(ctx, record.user_id, record.client_id):
        ctx.store.revoke_grant(grant.id, f"consent_{state}")
        if grant.sid:
            sids.add(grant.sid)
    return appended, sids


def _notify(
    ctx: Context, client: Client, record: ConsentRecord, event_type: str, payload: dict[str, Any]
) -> None:
    """Queue a consent-event SET about ``record``'s relationship for the RP (SPEC.md §13)."""
    events.enqueue_consent_event(
        ctx.store,
        ctx.keys,
        ctx.issuer,
        client,
        user_id=record.user_id,
        subject=record.document["subject"],
        event_type=event_type,
        payload=payload,
    )


def _grants_of(ctx: Context, user_id: str, client_id: str) -> list[Grant]:
    return ctx.store.live_grants(user_id, client_id)


def withdraw(
    ctx: Context, user: User, client: Client, *, reason: str | None = None
) -> ledger.Appended:
    """Withdraw a relationship's consent now (SPEC.md §9): record, revoke, notify."""
    ctx.store.lock_ledger(user.id)
    record = current(ctx, user.id, client.client_id)
    if record is None:
        raise ConsentError("there is no active consent to withdraw for this site")
    claims = list(record.document["granted"])
    appended, sids = _end(ctx, record, "withdrawn", "dashboard", withdrawal_id=str(uuid.uuid4()))
    payload = {
        "record_id": record.record_id,
        "new_record_id": appended.row.record_id,
        "claims": claims,
    }
    _notify(ctx, client, record, events.WITHDRAWN, payload)
    for sid in sids or {None}:
        events.enqueue_backchannel_logout(
            ctx.store,
            ctx.keys,
            ctx.issuer,
            client,
            user_id=user.id,
            subject=record.document["subject"],
            sid=sid,
        )
    return appended


def narrow(ctx: Context, user: User, client: Client, remove: list[str]) -> ledger.Appended:
    """Stop releasing some claims (SPEC.md §9 action narrow); the rest stays consented."""
    ctx.store.lock_ledger(user.id)
    record = current(ctx, user.id, client.client_id)
    if record is None:
        raise ConsentError("there is no active consent to narrow for this site")
    granted = dict(record.document["granted"])
    unknown = [c for c in remove if c not in granted]
    if not remove:
        raise ConsentError("nothing was unticked: untick what the site should no longer receive")
    if unknown:
        raise ConsentError(f"not currently shared with this site: {', '.join(unknown)}")
    for claim in remove:
        granted.pop(claim)
    if not granted:
        return withdraw(ctx, user, client, reason="every claim removed")
    appended = ledger.append_successor(
        ctx.store,
        ctx.keys,
        ctx.issuer,
        record,
        "narrowed",
        collection_method="dashboard",
        granted=granted,
        withdrawal_id=str(uuid.uuid4()),
    )
    still = released_claims(appended.row)
    for grant in _grants_of(ctx, user.id, client.client_id):
        grant.granted_claims = [c for c in (grant.granted_claims or []) if c in still]
        grant.consent_record_id = appended.row.record_id
    payload = {
        "record_id": record.record_id,
        "new_record_id": appended.row.record_id,
        "removed_claims": remove,
    }
    _notify(ctx, client, record, events.NARROWED, payload)
    return appended


def switch_persona(
    ctx: Context, user: User, client: Client, persona_id: str | None
) -> ledger.Appended:
    """Release another persona's values to this RP from now on (a renewed record says so)."""
    ctx.store.lock_ledger(user.id)
    record = current(ctx, user.id, client.client_id)
    if record is None:
        raise ConsentError("there is no active consent with this site")
    if persona_id and get_persona(ctx.store, user.id, persona_id) is None:
        raise ConsentError("no such persona")
    if (record.persona_id or None) == (persona_id or None):
        raise ConsentError("this site already receives that persona")
    appended = ledger.append_successor(
        ctx.store,
        ctx.keys,
        ctx.issuer,
        record,
        "renewed",
        collection_method="dashboard",
        persona_id=persona_id or None,
        persona_ref=reference(persona_id, client.client_id, ctx.settings.secret_key),
    )
    for grant in _grants_of(ctx, user.id, client.client_id):
        grant.persona_id = persona_id or None
        grant.consent_record_id = appended.row.record_id
    return appended


def expire(ctx: Context, record: ConsentRecord) -> ledger.Appended:
    """A consent past its ``expires_at`` lapses: record, revoke, notify (SPEC.md §6)."""
    client = ctx.store.get_client(record.client_id)
    appended, _sids = _end(ctx, record, "expired", "provider-policy")
    if client is not None and record.expires_at is not None:
        payload = {
            "record_id": record.record_id,
            "new_record_id": appended.row.record_id,
            # The moment that made it lapse: the indexed expires_at, which every record
            # with an expiry has (its document may lack one if the row was edited).
            "expired_at": record.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        _notify(ctx, client, record, events.EXPIRED, payload)
    return appended


def invalidate_client(ctx: Context, client_id: str) -> int:
    """A deleted client's active consents can no longer be honoured or withdrawn: each gets an
    ``invalidated`` record (SPEC.md §6.1) so the person's dashboard shows it ended."""
    ended = 0
    for record in ctx.store.latest_records_of_client(client_id):
        if record.state in ledger.ACTIVE:
            _end(ctx, record, "invalidated", "provider-policy")
            ended += 1
    return ended


def expire_due(ctx: Context) -> int:
    """Expire every active consent whose time has come (`porta consents expire`)."""
    due = ctx.store.due_consent_records(set(ledger.ACTIVE), now())
    count = 0
    for record in due:
        latest = ledger.latest_record(ctx.store, record.user_id, record.client_id)
        if latest is not None and latest.record_id == record.record_id:
            expire(ctx, record)
            count += 1
    return count
