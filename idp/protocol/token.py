"""Token endpoint: RFC 6749 §3.2, §4.1.3, §4.4, §6; OIDC Core §3.1.3, §12; RFC 9700 §2.2, §4.14.

Grants, each a short pipeline of named checks:

* ``authorization_code`` — single use by an atomic conditional update; a
  second redemption revokes everything the first one issued (RFC 6749
  §4.1.2, RFC 9700 §4.2.4); bound to client, redirect_uri and PKCE.
* ``refresh_token`` — rotated on every use; presenting a rotated token
  revokes the whole family (RFC 9700 §4.14.2).
* ``client_credentials`` — confidential clients only (RFC 6749 §4.4).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from idp.base.clock import now
from idp.base.context import Context
from idp.base.encoding import digest, random_token, split_scope
from idp.base.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    InvalidTargetError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from idp.consent.consent_request import granted_details
from idp.consent.decisions import grant_still_consented
from idp.profile.subjects import subject
from idp.protocol import pkce
from idp.protocol.access_token import mint_access_token
from idp.protocol.clients import OIDC_SCOPES, is_public, registered_scopes
from idp.protocol.id_token import mint_id_token
from idp.storage.models import Client, Grant

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def _require(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise InvalidRequestError(f"{name} is missing")
    return value


def _check_grant_type_allowed(client: Client, grant_type: str) -> None:
    if grant_type not in client.metadata_.get("grant_types", []):
        raise UnauthorizedClientError(f"this client is not registered for the {grant_type} grant")


def access_token_audience(ctx: Context, params: dict[str, str]) -> str | None:
    """The ``aud`` asked for with ``resource`` (RFC 8707 §2, §2.2), or None for the issuer.

    The value must be an absolute URI without a fragment and one of the resource
    servers the operator listed in ``PORTA_RESOURCES``; anything else is
    ``invalid_target``, so a client cannot aim a token at a server nobody named.
    """
    resource = params.get("resource")
    if resource is None:
        return None
    parts = urlsplit(resource)
    if not parts.scheme or not parts.netloc or "#" in resource:
        raise InvalidTargetError(
            "resource must be an absolute URI without a fragment (RFC 8707 §2)"
        )
    if resource not in ctx.settings.resources.split():
        raise InvalidTargetError(
            "resource is not a resource server this provider issues tokens for"
        )
    return resource


def token_request(ctx: Context, client: Client, params: dict[str, str]) -> dict[str, Any]:
    """Dispatch a token request for an authenticated client to its grant."""
    grant_type = _require(params, "grant_type")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantTypeError(f"grant_type {grant_type!r} is not supported")
    _check_grant_type_allowed(client, grant_type)
    access_token_audience(ctx, params)  # refuse a bad resource before a code is spent
    if grant_type == "authorization_code":
        return authorization_code_grant(ctx, client, params)
    if grant_type == "refresh_token":
        return refresh_token_grant(ctx, client, params)
    return client_credentials_grant(ctx, client, params)


def _revoke_family(ctx: Context, grant_id: str, reason: str, client_id: str) -> None:
    """Revoke a grant and commit now: the error we are about to return must not undo it."""
    ctx.store.rollback()
    ctx.store.revoke_grant(grant_id, reason)
    ctx.store.audit(reason, grant_id=grant_id, client_id=client_id)
    ctx.store.commit()


def _issue(
    ctx: Context,
    client: Client,
    grant: Grant,
    scope: str,
    params: dict[str, str],
    *,
    nonce: str | None,
    with_id_token: bool,
) -> dict[str, Any]:
    user = ctx.store.get_user(grant.user_id) if grant.user_id else None
    if user is None:
        raise InvalidGrantError("the person behind this grant no longer exists")
    access_token, ttl = mint_access_token(
        ctx,
        client,
        grant,
        subject(ctx, client, user.id),
        scope,
        access_token_audience(ctx, params),
    )
    response: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    }
    scopes = scope.split()
    if with_id_token and "openid" in scopes:
        response["id_token"] = mint_id_token(
            ctx, client, user, grant, nonce=nonce, access_token=access_token
        )
    if grant.consent_record_id is not None:
        record = ctx.store.get_consent_record(grant.consent_record_id)
        if record is not None:
            # The signed receipt of the consent this grant was issued under (consent_spec §7),
            # an extension parameter as RFC 6749 §5.1 allows.
            response["consent_receipt"] = record.receipt
            details = granted_details(record.document["request"], grant.granted_claims or [])
            if details:
                response["authorization_details"] = details  # RFC 9396 §7
    if "offline_access" in scopes and "refresh_token" in client.metadata_.get("grant_types", []):
        refresh_token = random_token(32)
        ctx.store.create_refresh_token(
            token_hash=digest(refresh_token),
            grant_id=grant.id,
            scope=scope,
            expires_at=grant.expires_at,
        )
        response["refresh_token"] = refresh_token
    return response


def authorization_code_grant(
    ctx: Context, client: Client, params: dict[str, str]
) -> dict[str, Any]:
    """RFC 6749 §4.1.3 and OIDC Core §3.1.3.2 token request validation."""
    code = ctx.store.get_code(digest(_require(params, "code")))
    if code is None:
        raise InvalidGrantError("the authorization code is invalid")
    if code.client_id != client.client_id:
        raise InvalidGrantError("the authorization code was issued to another client")
    if not ctx.store.redeem_code(code.code_hash):
        _revoke_family(ctx, code.grant_id, "code_reuse", client.client_id)
        raise InvalidGrantError(
            "the authorization code was already used; the tokens issued from it are revoked"
        )
    if code.expires_at <= now():
        raise InvalidGrantError("the authorization code has expired")
    if params.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrantError("redirect_uri does not match the authorization request")
    if is_public(client) and code.code_challenge is None:
        raise InvalidGrantError("public clients must use PKCE")
    pkce.verify(code.code_challenge, params.get("code_verifier"))
    grant = ctx.store.get_grant(code.grant_id)
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrantError("the authorization behind this code has been revoked")
    return _issue(ctx, client, grant, grant.scope, params, nonce=code.nonce, with_id_token=True)


def refresh_token_grant(ctx: Context, client: Client, params: dict[str, str]) -> dict[str, Any]:
    """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2), OIDC Core §12."""
    token = ctx.store.get_refresh_token(digest(_require(params, "refresh_token")))
    if token is None:
        raise InvalidGrantError("the refresh token is invalid")
    grant = ctx.store.get_grant(token.grant_id)
    if grant is None or grant.client_id != client.client_id:
        raise InvalidGrantError("the refresh token was issued to another client")
    if grant.revoked_at is not None:
        raise InvalidGrantError("the refresh token has been revoked")
    if token.used_at is not None or not ctx.store.use_refresh_token(token.token_hash):
        _revoke_family(ctx, grant.id, "refresh_token_reuse", client.client_id)
        raise InvalidGrantError(
            "the refresh token was already used; every token of this grant is now revoked"
        )
    if token.expires_at <= now():
        raise InvalidGrantError("the refresh token has expired")
    if not grant_still_consented(ctx, grant):
        raise InvalidGrantError("the person's consent for this site has ended")
    granted = token.scope.split()
    requested = split_scope(params.get("scope")) or granted
    if not set(requested) <= set(granted):
        raise InvalidScopeError("scope may only narrow what was originally granted (RFC 6749 §6)")
    return _issue(ctx, client, grant, " ".join(requested), params, nonce=None, with_id_token=True)


def client_credentials_grant(
    ctx: Context, client: Client, params: dict[str, str]
) -> dict[str, Any]:
    """RFC 6749 §4.4: the client acts on its own behalf; no person, no ID token."""
    if is_public(client):
        raise UnauthorizedClientError("public clients cannot use client_credentials")
    allowed = registered_scopes(ctx, client)
    requested = split_scope(params.get("scope"))
    if any(s in OIDC_SCOPES for s in requested):
        raise InvalidScopeError(
            "client_credentials tokens carry no person: openid and profile scopes are not allowed"
        )
    if any(s not in allowed for s in requested):
        raise InvalidScopeError("scope exceeds what this client registered")
    scope = " ".join(requested)
    audience = access_token_audience(ctx, params)
    access_token, ttl = mint_access_token(ctx, client, None, client.client_id, scope, audience)
    response: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
    }
    if scope:
        response["scope"] = scope
    return response
