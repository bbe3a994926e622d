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

import requests

from idp.base import metrics
from idp.base.clock import epoch, now
from idp.base.encoding import random_token
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


def _post(row: EventOutbox, http: requests.Session) -> tuple[bool, str | None]:
    """One delivery attempt; returns (accepted, error)."""
    try:
        if row.event_type == BACKCHANNEL_LOGOUT:
            response = http.post(row.endpoint, data={"logout_token": row.token}, timeout=5)
            ok = response.status_code == 200
        else:
            response = http.post(
                row.endpoint,
                data=row.token.encode("ascii"),
                headers={"Content-Type": "application/secevent+jwt", "Accept": "application/json"},
                timeout=5,
            )
            ok = response.status_code == 202  # RFC 8935 §2.2
    except requests.RequestException as exc:
        return False, f"{type(exc).__name__}: {exc}"[:500]
    if ok:
        return True, None
    return False, f"HTTP {response.status_code}: {response.text[:300]}"


def deliver_due(
    open_store: Callable[[], Store],
    *,
    limit: int = 50,
    http: requests.Session | None = None,
    guard: Callable[[str], None] | None = None,
) -> int:
    """Attempt every due delivery once; returns how many were accepted.

    The outbox has its own unit of work (``open_store``): rows are claimed
    atomically and the claim committed before anything is sent
    (:meth:`idp.storage.Store.claim_due`), so two workers or hosts running this
    at once never send the same event; each outcome is committed as it comes.
    """
    http = http or requests.Session()
    store = open_store()
    delivered = 0
    try:
        for row in store.claim_due(limit):
            try:
                if guard is not None:
                    guard(row.endpoint)
                accepted, error = _post(row, http)
            except ValueError as refused:  # the outbound guard: no request was sent
                accepted, error = False, f"refused: {refused}"
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
