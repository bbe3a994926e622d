"""Minting and checking tokens: ID tokens (OIDC Core §2, §3.1.3.6) and JWT access tokens (RFC 9068)."""

from __future__ import annotations

from typing import Any

import jwt

from idp.base.clock import epoch, later, now
from idp.base.context import Context
from idp.base.encoding import left_half_hash, random_token
from idp.base.errors import InvalidTokenError
from idp.consent.decisions import grant_still_consented
from idp.profile.claims import release
from idp.profile.personas import get_persona, overlay
from idp.profile.subjects import subject
from idp.storage.models import AccessToken, Client, Grant, User

ACCESS_TOKEN_TYP = "at+jwt"  # RFC 9068 §2.1


def mint_access_token(
    ctx: Context, client: Client, grant: Grant | None, sub: str, scope: str
) -> tuple[str, int]:
    """A JWT access token per RFC 9068 §2.2, recorded by ``jti``; returns it and its lifetime."""
    ttl = ctx.settings.access_token_ttl
    issued = now()
    jti = random_token(16)
    claims: dict[str, Any] = {
        "iss": ctx.issuer,
        "sub": sub,
        "aud": ctx.issuer,
        "client_id": client.client_id,
        "iat": epoch(issued),
        "exp": epoch(issued) + ttl,
        "jti": jti,
        "scope": scope,
    }
    if grant is not None and grant.auth_time is not None:
        claims["auth_time"] = epoch(grant.auth_time)
    token = ctx.keys.sign(claims, ctx.settings.access_token_signing_alg, typ=ACCESS_TOKEN_TYP)
    ctx.store.record_access_token(jti, client.client_id, grant.id if grant else None, later(ttl))
    return token, ttl


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
    return ctx.keys.sign(claims, alg, typ="JWT")


def verify_access_token(ctx: Context, token: str) -> tuple[dict[str, Any], AccessToken]:
    """Check a bearer token we issued: signature, typ, issuer, audience, expiry, revocation."""
    try:
        claims = ctx.keys.verify(
            token, typ=ACCESS_TOKEN_TYP, issuer=ctx.issuer, audience=ctx.issuer
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidTokenError("the access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"the access token is invalid: {exc}") from exc
    record = ctx.store.get_access_token(str(claims.get("jti", "")))
    if record is None or record.revoked_at is not None:
        raise InvalidTokenError("the access token has been revoked")
    if record.grant_id is not None:
        grant = ctx.store.get_grant(record.grant_id)
        if grant is None or grant.revoked_at is not None:
            raise InvalidTokenError("the authorization behind this access token has been revoked")
        if not grant_still_consented(ctx, grant):
            raise InvalidTokenError("the person's consent for this site has ended")
    return claims, record
