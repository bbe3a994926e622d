"""ID tokens (OIDC Core §2): minting them, with at_hash (§3.1.3.6) and the released claims."""

from __future__ import annotations

from typing import Any

from idp.base.clock import epoch, now
from idp.base.context import Context
from idp.base.encoding import left_half_hash
from idp.profile.claims import release
from idp.profile.personas import get_persona, overlay
from idp.profile.subjects import subject
from idp.storage.models import Client, Grant, User


def id_token_alg(ctx: Context, client: Client) -> str:
    """The client's registered ID token algorithm, or the provider default."""
    return client.metadata_.get("id_token_signed_response_alg", ctx.settings.id_token_signing_alg)


def mint_id_token(
    ctx: Context,
    client: Client,
    user: User,
    grant: Grant,
    *,
    nonce: str | None,
    access_token: str | None,
) -> str:
    """An ID token (OIDC Core §2) with at_hash (§3.1.3.6), auth_time, sid, amr and azp.

    Scope claims go to UserInfo when an access token is issued (OIDC Core §5.4);
    claims asked for under ``claims.id_token`` (§5.5) are added here.
    """
    alg = id_token_alg(ctx, client)
    issued = now()
    claims: dict[str, Any] = {
        "iss": ctx.issuer,
        "sub": subject(ctx, client, user.id),
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": epoch(issued),
        "exp": epoch(issued) + ctx.settings.id_token_ttl,
        "amr": ["pwd"],
    }
    if grant.auth_time is not None:
        claims["auth_time"] = epoch(grant.auth_time)
    if grant.sid:
        claims["sid"] = grant.sid
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = left_half_hash(access_token, alg)
    scopes = grant.scope.split()
    requested = (grant.claims or {}).get("id_token")
    released = release(
        user,
        scopes,
        requested,
        include_scope_claims=access_token is None,
        allowed=grant.granted_claims if grant.granted_claims is not None else [],
        overlay=overlay(get_persona(ctx.store, user.id, grant.persona_id)),
    )
    for name, value in released.items():
        claims.setdefault(name, value)
    ctx.store.record_disclosure(user.id, client.client_id, "id_token", ["sub", *released])
    return ctx.keys.sign(claims, alg, typ="JWT", store=ctx.store)
