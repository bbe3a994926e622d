"""Telling the old provider's sites about a move, if the person asks (consent_spec SPEC.md
§12.5, §13): a ``subject-moved`` consent event to each site the person picks, naming the new
issuer. Nothing goes out unless the person picks a site."""

from __future__ import annotations

from dataclasses import dataclass

from idp.base.context import Context
from idp.consent import events, ledger
from idp.portability.opening import fetchable
from idp.storage.models import User


class MoveNoticeError(ValueError):
    """A move notice that was not sent (no new issuer, or a site that is not the person's)."""


@dataclass(frozen=True)
class Told:
    """What happened for one site: the event was queued, or the site takes no events."""

    client_id: str
    name: str
    queued: bool


def tell_sites(ctx: Context, user: User, client_ids: list[str], new_issuer: str) -> list[Told]:
    """Queue a ``subject-moved`` event for each chosen site the person has a relationship with.

    The caller commits; the outbox then delivers (RFC 8935). A site that registered
    no ``consent_event_endpoint`` is reported as not told, never as told.
    """
    new_issuer = new_issuer.strip().rstrip("/")
    if not fetchable(new_issuer):
        raise MoveNoticeError("name the new provider by its https address")
    if new_issuer == ctx.issuer:
        raise MoveNoticeError("that is this provider")
    mine = set(ctx.store.relationship_client_ids(user.id))
    if not client_ids:
        raise MoveNoticeError("pick at least one site to tell")
    told = []
    for client_id in dict.fromkeys(client_ids):
        if client_id not in mine:
            raise MoveNoticeError("you have no relationship with one of those sites")
        client = ctx.store.get_client(client_id)
        record = ledger.latest_record(ctx.store, user.id, client_id)
        if client is None or record is None:
            continue
        row = events.enqueue_consent_event(
            ctx.store,
            ctx.keys,
            ctx.issuer,
            client,
            user_id=user.id,
            subject=record.document["subject"],
            event_type=events.MOVED,
            payload={"record_id": record.record_id, "new_issuer": new_issuer},
        )
        name = client.metadata_.get("client_name") or client_id
        told.append(Told(client_id, name, row is not None))
    return told
