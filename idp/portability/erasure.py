"""Leaving: account deletion (GDPR Art. 17), telling every site first (SPEC.md §9, §13)."""

from __future__ import annotations

from idp.base.context import Context
from idp.consent import decisions, events
from idp.portability.common import DeletionRefusedError
from idp.profile.accounts import authenticate
from idp.profile.subjects import subject
from idp.storage.models import User


def delete_account(ctx: Context, user: User, password: str) -> list[str]:
    """Delete the person's account (GDPR Art. 17); returns the client_ids a consent-withdrawn
    notice was queued for (sites without an event endpoint are withdrawn but not told).

    1. Every relationship with an active consent is withdrawn through
       :func:`idp.consent.decisions.withdraw`: a ``withdrawn`` record and receipt, the
       RP's tokens revoked, a consent-withdrawn SET (SPEC.md §13) and a back-channel
       logout token queued for it.
    2. Every other live grant is revoked and its RP sent a logout token; every login
       session is ended.
    3. The person's profile, personas, disclosures, sessions, grants and imported
       history are removed (:meth:`idp.storage.Store.erase_person`).

    What stays is the ledger, detached from the person (``user_id`` NULL). Its
    documents hold no personal values: ``subject`` is the RP's own identifier for
    the person (pairwise by default, OIDC Core §8.1, now linked to nothing here),
    ``granted`` and ``refused`` hold claim names only, never values (SPEC.md §18),
    ``persona`` is an opaque per-RP reference, and ``request`` describes the RP.
    The hashes and receipts keep the proof of what was consented (GDPR Art. 7(1)).
    The caller commits, then pushes the queued events.
    """
    if authenticate(ctx.store, user.email, password) is None:
        raise DeletionRefusedError("the password is not right; nothing was deleted")
    told: list[str] = []
    withdrawn: list[str] = []  # their back-channel logout went out with the withdrawal
    client_ids = ctx.store.relationship_client_ids(user.id)
    for client_id in sorted(client_ids):
        client = ctx.store.get_client(client_id)
        if client is None or decisions.current(ctx, user.id, client_id) is None:
            continue
        decisions.withdraw(ctx, user, client, reason="account deleted")
        if client.metadata_.get(events.ENDPOINT_METADATA):  # a notice was queued for it
            told.append(client_id)
        withdrawn.append(client_id)
    live = ctx.store.live_grants(user.id)
    logged_out: set[tuple[str, str | None]] = set()
    for grant in list(live):
        ctx.store.revoke_grant(grant.id, "account_deleted")
        client = ctx.store.get_client(grant.client_id)
        if (
            client is None
            or grant.client_id in withdrawn
            or (grant.client_id, grant.sid) in logged_out
        ):
            continue
        logged_out.add((grant.client_id, grant.sid))
        events.enqueue_backchannel_logout(
            ctx.store,
            ctx.keys,
            ctx.issuer,
            client,
            user_id=user.id,
            subject=subject(ctx, client, user.id),
            sid=grant.sid,
        )
    for sid in ctx.store.login_session_ids(user.id):
        ctx.store.end_login_session(sid)
    ctx.store.erase_person(user)
    return told
