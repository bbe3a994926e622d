"""RP-Initiated Logout 1.0 §2-§3: end the person's session at the provider."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from idp.base.context import Context
from idp.base.errors import InvalidRequestError
from idp.protocol.authorize import redirect_url
from idp.storage.models import Client


@dataclass
class LogoutRequest:
    """A validated logout request."""

    client: Client | None
    redirect_to: str | None
    hinted_sid: str | None
    hinted_sub: str | None


def validate_logout_request(ctx: Context, params: dict[str, str]) -> LogoutRequest:
    """Check id_token_hint, client_id and post_logout_redirect_uri (RP-Initiated Logout §2, §3).

    A post_logout_redirect_uri is honoured only when the client is identified
    and the URI is registered for it, compared exactly: anything else would be
    an open redirector (RFC 9700 §4.11).
    """
    hint = params.get("id_token_hint")
    hinted: dict[str, object] = {}
    if hint:
        try:
            # typ JWT (RFC 8725 §3.11): an access token, logout token or SET is not an ID token.
            hinted = ctx.keys.verify(
                hint, store=ctx.store, typ="jwt", verify_exp=False, issuer=ctx.issuer
            )
        except jwt.PyJWTError as exc:
            raise InvalidRequestError(
                f"id_token_hint is not an ID token from this issuer: {exc}"
            ) from exc
    audience = hinted.get("aud")
    hinted_client = audience[0] if isinstance(audience, list) and audience else audience
    client_id = params.get("client_id") or hinted_client
    if params.get("client_id") and hinted_client and params["client_id"] != hinted_client:
        raise InvalidRequestError("client_id does not match the id_token_hint audience")
    client = ctx.store.get_client(str(client_id)) if client_id else None
    if client_id and client is None:
        raise InvalidRequestError("unknown client_id")
    redirect_to = None
    target = params.get("post_logout_redirect_uri")
    if target:
        if client is None:
            raise InvalidRequestError(
                "post_logout_redirect_uri needs id_token_hint or client_id to identify the client"
            )
        if target not in client.metadata_.get("post_logout_redirect_uris", []):
            raise InvalidRequestError("post_logout_redirect_uri is not registered for this client")
        extra = {"state": params["state"]} if "state" in params else {}
        redirect_to = redirect_url(target, extra) if extra else target
    sid = hinted.get("sid")
    sub = hinted.get("sub")
    return LogoutRequest(
        client=client,
        redirect_to=redirect_to,
        hinted_sid=sid if isinstance(sid, str) else None,
        hinted_sub=sub if isinstance(sub, str) else None,
    )
