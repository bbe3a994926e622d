"""Token revocation: RFC 7009 §2."""

from __future__ import annotations

import jwt

from idp.base.context import Context
from idp.base.encoding import digest
from idp.base.errors import InvalidRequestError, UnsupportedTokenTypeError
from idp.storage.models import Client

TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


def revoke(ctx: Context, client: Client, token: str | None, hint: str | None) -> None:
    """Revoke ``token`` if this client holds it; unknown tokens are not an error (RFC 7009 §2.2).

    Revoking a refresh token revokes its whole grant, access tokens included,
    as RFC 7009 §2.1 recommends.
    """
    if not token:
        raise InvalidRequestError("token is missing")
    if hint is not None and hint not in TOKEN_TYPE_HINTS:
        raise UnsupportedTokenTypeError(f"token_type_hint {hint!r} is not supported")
    refresh = ctx.store.get_refresh_token(digest(token))
    if refresh is not None:
        grant = ctx.store.get_grant(refresh.grant_id)
        if grant is not None and grant.client_id == client.client_id:
            ctx.store.revoke_grant(grant.id, "revoked_by_client")
        return
    try:
        claims = ctx.keys.verify(
            token, store=ctx.store, typ="at+jwt", verify_exp=False, issuer=ctx.issuer
        )
    except (jwt.PyJWTError, ValueError):
        return
    record = ctx.store.get_access_token(str(claims.get("jti", "")))
    if record is not None and record.client_id == client.client_id:
        ctx.store.revoke_access_token(record.jti)
