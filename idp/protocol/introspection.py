"""Token introspection: RFC 7662 §2."""

from __future__ import annotations

from typing import Any

from idp.base.clock import epoch, now
from idp.base.context import Context
from idp.base.encoding import digest
from idp.base.errors import InvalidRequestError, InvalidTokenError
from idp.protocol.access_token import verify_access_token
from idp.storage.models import Client

INACTIVE = {"active": False}


def introspect(ctx: Context, client: Client, token: str | None, hint: str | None) -> dict[str, Any]:
    """Describe a token to an authenticated client; anything not valid is ``{"active": false}``.

    Any authenticated client may introspect access tokens (resource servers are
    clients); a refresh token is described only to the client it was issued to.
    """
    if not token:
        raise InvalidRequestError("token is missing")
    refresh = ctx.store.get_refresh_token(digest(token))
    if refresh is not None:
        grant = ctx.store.get_grant(refresh.grant_id)
        if (
            grant is None
            or grant.client_id != client.client_id
            or grant.revoked_at is not None
            or refresh.used_at is not None
            or refresh.expires_at <= now()
        ):
            return dict(INACTIVE)
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": grant.client_id,
            "scope": refresh.scope,
            "exp": epoch(refresh.expires_at),
            "iat": epoch(refresh.issued_at),
            "iss": ctx.issuer,
        }
    try:
        claims, _record = verify_access_token(ctx, token, any_resource=True)
    except InvalidTokenError:
        return dict(INACTIVE)
    if _record.grant_id is not None:
        grant = ctx.store.get_grant(_record.grant_id)
        if grant is not None and grant.user_id:
            ctx.store.record_disclosure(grant.user_id, client.client_id, "introspection", ["sub"])
    body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "auth_time"):
        if name in claims:
            body[name] = claims[name]
    return body
