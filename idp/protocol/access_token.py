"""JWT access tokens (RFC 9068): minting them and checking the ones presented back to us."""

from __future__ import annotations

from typing import Any

import jwt

from idp.base.clock import epoch, later, now
from idp.base.context import Context
from idp.base.encoding import random_token
from idp.base.errors import InvalidTokenError
from idp.consent.decisions import grant_still_consented
from idp.storage.models import AccessToken, Client, Grant

ACCESS_TOKEN_TYP = "at+jwt"  # RFC 9068 §2.1


def mint_access_token(
    ctx: Context,
    client: Client,
    grant: Grant | None,
    sub: str,
    scope: str,
    audience: str | None = None,
) -> tuple[str, int]:
    """A JWT access token per RFC 9068 §2.2, recorded by ``jti``; returns it and its lifetime.

    ``aud`` is the resource the client named (RFC 8707 §2, RFC 9068 §3), else the issuer.
    """
    ttl = ctx.settings.access_token_ttl
    issued = now()
    jti = random_token(16)
    claims: dict[str, Any] = {
        "iss": ctx.issuer,
        "sub": sub,
        "aud": audience or ctx.issuer,
        "client_id": client.client_id,
        "iat": epoch(issued),
        "exp": epoch(issued) + ttl,
        "jti": jti,
        "scope": scope,
    }
    if grant is not None and grant.auth_time is not None:
        claims["auth_time"] = epoch(grant.auth_time)
    token = ctx.keys.sign(
        claims, ctx.settings.access_token_signing_alg, typ=ACCESS_TOKEN_TYP, store=ctx.store
    )
    ctx.store.record_access_token(jti, client.client_id, grant.id if grant else None, later(ttl))
    return token, ttl


def verify_access_token(
    ctx: Context, token: str, *, any_resource: bool = False
) -> tuple[dict[str, Any], AccessToken]:
    """Check a bearer token we issued: signature, typ, issuer, audience, expiry, revocation.

    The audience must be this provider (userinfo), or with ``any_resource`` one of the
    configured resource servers too (introspection answers for them, RFC 7662 §2.2).
    """
    audience = [ctx.issuer]
    if any_resource:
        audience += ctx.settings.resources.split()
    try:
        claims = ctx.keys.verify(
            token, store=ctx.store, typ=ACCESS_TOKEN_TYP, issuer=ctx.issuer, audience=audience
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
