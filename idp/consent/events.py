"""Telling relying parties: consent-event SETs (RFC 8417, SPEC.md §13) and back-channel logout
tokens (OIDC Back-Channel Logout 1.0 §2.4), pushed (RFC 8935 §2) from a durable outbox.

An event is written to the ``event_outbox`` table in the same transaction as
the ledger record it announces; delivery happens afterwards, retried with
exponential backoff until the receiver accepts it or the attempts run out.
The person can see each delivery's status on the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from idp.base import metrics
from idp.base.clock import epoch, now
from idp.base.encoding import random_token
from idp.base.outbound import OutboundClient, OutboundError, http_status_class
from idp.keys import KeyRing
from idp.profile.subjects import subject
from idp.storage import Store
from idp.storage.models import Client, EventOutbox

EVENT_BASE = "https://porta.example/consent-spec/1.0/event/"
WITHDRAWN = EVENT_BASE + "consent-withdrawn"
NARROWED = EVENT_BASE + "consent-narrowed"
EXPIRED = EVENT_BASE + "consent-expired"
MOVED = EVENT_BASE + "subject-moved"  # the person moved provider (SPEC.md §12.5, §13)
BACKCHANNEL_LOGOUT = "http://schemas.openid.net/event/backchannel-logout"
ENDPOINT_METADATA = "consent_event_endpoint"  # client metadata: where SETs are pushed
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 5


def enqueue_consent_event(
    store: Store,
    keys: KeyRing,
    issuer: str,
    client: Client,
    *,
    user_id: str,
    subject: str,
    event_type: str,
    payload: dict[str, Any],
) -> EventOutbox | None:
    """Sign a consent-event SET and queue it for the RP's registered endpoint (if it has one)."""
    endpoint = client.metadata_.get(ENDPOINT_METADATA)
    if not endpoint:
        return None
    moment = now()
    claims = {
        "iss": issuer,
        "iat": epoch(moment),
        "jti": random_token(16),
        "aud": client.client_id,
        "sub": subject,
        "toe": epoch(moment),
        "events": {event_type: payload},
    }
    token = keys.sign(claims, "ES256", typ="secevent+jwt")
    return _queue(store, client, user_id, endpoint, token, event_type)


def enqueue_backchannel_logout(
    store: Store,
    keys: KeyRing,
    issuer: str,
    client: Client,
    *,
    user_id: str,
    subject: str,
    sid: str | None,
) -> EventOutbox | None:
    """Queue a logout token (Back-Channel Logout 1.0 §2.4) for an RP that registered for it."""
    endpoint = client.metadata_.get("backchannel_logout_uri")
    if not endpoint:
        return None
    moment = now()
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client.client_id,
        "iat": epoch(moment),
        "exp": epoch(moment) + 120,
        "jti": random_token(16),
        "sub": subject,
        "events": {BACKCHANNEL_LOGOUT: {}},
    }
    if sid:
        claims["sid"] = sid  # backchannel_logout_session_supported: always sent when known
    token = keys.sign(claims, "ES256", typ="logout+jwt")
    return _queue(store, client, user_id, endpoint, token, BACKCHANNEL_LOGOUT)


def notify_session_end(ctx: Any, sid: str) -> int:
    """Queue a logout token for every RP that got tokens in this session and asked to be told
    (Back-Channel Logout 1.0 §2.5: the OP sends one when the person logs out of the OP)."""
    clients = ctx.store.parties_of_session(sid)
    queued = 0
    for client_id, user_id in clients:
        client = ctx.store.get_client(client_id)
        if client is None or user_id is None:
            continue
        row = enqueue_backchannel_logout(
            ctx.store,
            ctx.keys,
            ctx.issuer,
            client,
            user_id=user_id,
            subject=subject(ctx, client, user_id),
            sid=sid,
        )
        queued += row is not None
    return queued


def _queue(
    store: Store, client: Client, user_id: str, endpoint: str, token: str, event_type: str
) -> EventOutbox:
    return store.enqueue(
        client_id=client.client_id,
        user_id=user_id,
        endpoint=endpoint,
        token=token,
        event_type=event_type,
    )


def _post(row: EventOutbox, outbound: OutboundClient) -> tuple[bool, str | None]:
    """One delivery attempt; returns (accepted, status class).

    Only a status class from the outbound client is kept (``HTTP 5xx``, ``timeout``,
    ``refused: private address`` …): the receiver's body and exception texts are never
    stored, since the person's dashboard shows ``last_error`` (SSRF read-back).
    """
    try:
        if row.event_type == BACKCHANNEL_LOGOUT:
            status = outbound.post(row.endpoint, data={"logout_token": row.token})
            ok = status == 200  # Back-Channel Logout 1.0 §2.8
        else:
            status = outbound.post(
                row.endpoint,
                data=row.token.encode("ascii"),
                headers={"Content-Type": "application/secevent+jwt", "Accept": "application/json"},
            )
            ok = status == 202  # RFC 8935 §2.2
    except OutboundError as failed:
        return False, failed.status
    if ok:
        return True, None
    return False, http_status_class(status)


def deliver_due(
    open_store: Callable[[], Store],
    outbound: OutboundClient,
    *,
    limit: int = 50,
) -> int:
    """Attempt every due delivery once; returns how many were accepted.

    The outbox has its own unit of work (``open_store``): rows are claimed
    atomically and the claim committed before anything is sent
    (:meth:`idp.storage.Store.claim_due`), so two workers or hosts running this
    at once never send the same event; each outcome is committed as it comes.
    Every push goes through ``outbound`` (:class:`idp.base.outbound.OutboundClient`).
    """
    store = open_store()
    delivered = 0
    try:
        for row in store.claim_due(limit):
            accepted, error = _post(row, outbound)
            retry_at = None
            if not accepted and row.attempts < MAX_ATTEMPTS:
                retry_at = now() + timedelta(seconds=BASE_DELAY_SECONDS * 2 ** (row.attempts - 1))
            store.finish_delivery(row, accepted=accepted, error=error, retry_at=retry_at)
            if not accepted:
                metrics.DELIVERY_FAILURES.labels("retry" if retry_at else "failed").inc()
            delivered += accepted
    finally:
        store.close()
    return delivered


def deliveries_for(store: Store, user_id: str, client_id: str) -> list[EventOutbox]:
    """Every event queued for this relationship, newest first (shown to the person)."""
    return store.deliveries(user_id, client_id)
