"""UserInfo endpoint: OIDC Core §5.3, with bearer tokens per RFC 6750 §2.1 and §2.2."""

from __future__ import annotations

from typing import Any

from idp.base.context import Context
from idp.base.errors import InsufficientScopeError, InvalidRequestError, InvalidTokenError
from idp.profile.claims import VERIFIED_CLAIMS, release, verified_claims
from idp.profile.personas import get_persona, overlay
from idp.protocol.access_token import verify_access_token


def bearer_token(authorization: str | None, form_token: str | None) -> str:
    """The access token from the Authorization header or the form body, never both (RFC 6750 §2)."""
    header_token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidRequestError(
                "the Authorization header must use the Bearer scheme", status_code=400
            )
        header_token = value.strip()
    if header_token and form_token:
        raise InvalidRequestError("the access token was sent in more than one way (RFC 6750 §2)")
    token = header_token or form_token
    if not token:
        raise InvalidTokenError("no access token was sent")
    return token


def userinfo(ctx: Context, token: str) -> dict[str, Any]:
    """The claims the person released to this client (OIDC Core §5.3.2)."""
    claims, record = verify_access_token(ctx, token)
    if record.grant_id is None:
        raise InsufficientScopeError("this token was issued to a client, not for a person")
    grant = ctx.store.get_grant(record.grant_id)
    assert grant is not None  # verify_access_token checked it
    scopes = str(claims.get("scope", "")).split()
    if "openid" not in scopes:
        raise InsufficientScopeError("the openid scope is required for UserInfo")
    user = ctx.store.get_user(grant.user_id or "")
    if user is None:
        raise InvalidTokenError("the person behind this token no longer exists")
    allowed = grant.granted_claims if grant.granted_claims is not None else []
    persona = overlay(get_persona(ctx.store, user.id, grant.persona_id))
    asked = (grant.claims or {}).get("userinfo")
    body = release(user, scopes, asked, allowed=allowed, overlay=persona)
    verified = verified_claims(ctx.store, user, asked, body)
    if verified:
        body[VERIFIED_CLAIMS] = verified
    ctx.store.record_disclosure(user.id, grant.client_id, "userinfo", ["sub", *body])
    body["sub"] = claims["sub"]
    return body
