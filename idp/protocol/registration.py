"""Dynamic client registration: RFC 7591 §3 and client management, RFC 7592 §2.

Open by default in ``porta demo``; ``PORTA_REGISTRATION=token`` demands an
initial access token (RFC 7591 §3), ``closed`` removes the endpoint.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from idp.base.clock import epoch
from idp.base.context import PATHS, Context
from idp.base.encoding import constant_time_equals, digest
from idp.base.errors import (
    InvalidClientMetadataError,
    InvalidTokenError,
    NotFoundError,
)
from idp.consent.consent_request import validate_registration
from idp.consent.decisions import invalidate_client
from idp.profile.subjects import distinct_redirect_hosts
from idp.protocol.clients import (
    check_push_endpoint,
    create_client,
    limit_self_registered_scope,
    validate_metadata,
)
from idp.storage.models import Client


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def check_registration_allowed(ctx: Context, authorization: str | None) -> None:
    """Enforce the registration policy of the configuration."""
    policy = ctx.settings.registration
    if policy == "closed":
        raise NotFoundError("dynamic client registration is disabled on this provider")
    if policy == "token":
        token = _bearer(authorization)
        expected = ctx.settings.registration_initial_access_token
        if token is None or not constant_time_equals(token, expected):
            raise InvalidTokenError("a valid initial access token is required (RFC 7591 §3)")


def check_sector_identifier(ctx: Context, metadata: dict[str, Any]) -> None:
    """Fetch the sector_identifier_uri and check it lists every redirect_uri.

    OIDC Core §8.1 and Dynamic Registration §2: the URI uses https and returns
    a JSON array of redirect URIs; every registered redirect_uri must be in it,
    which is how an RP proves its hosts belong to one sector. (http is accepted
    on loopback hosts only, for local testing.)
    """
    uri = metadata["sector_identifier_uri"]
    parts = urlsplit(uri)
    loopback = parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not loopback:
        raise InvalidClientMetadataError("sector_identifier_uri: must use https")
    try:
        listed = ctx.fetch_json(uri)
    except Exception as exc:  # any failure means the sector cannot be proven
        raise InvalidClientMetadataError(
            "sector_identifier_uri: could not be fetched as a JSON document"
        ) from exc
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise InvalidClientMetadataError("sector_identifier_uri: must return a JSON array of URIs")
    missing = [u for u in metadata.get("redirect_uris", []) if u not in listed]
    if missing:
        raise InvalidClientMetadataError(
            f"sector_identifier_uri: does not list the redirect_uri {missing[0]!r} (OIDC Core §8.1)"
        )


def _check_subject_type(ctx: Context, metadata: dict[str, Any]) -> None:
    """OIDC Core §8.1: a pairwise client with several redirect hosts needs a sector identifier."""
    if "sector_identifier_uri" in metadata:
        check_sector_identifier(ctx, metadata)
        return
    subject_type = metadata.get("subject_type", ctx.settings.default_subject_type)
    if (
        subject_type == "pairwise"
        and len(distinct_redirect_hosts(metadata.get("redirect_uris", []))) > 1
    ):
        raise InvalidClientMetadataError(
            "redirect_uris: pairwise subjects need all redirect_uris on one host, or a "
            "sector_identifier_uri listing them (OIDC Core §8.1), or subject_type public"
        )


def client_information(ctx: Context, client: Client, **extra: Any) -> dict[str, Any]:
    """The client information response (RFC 7591 §3.2.1, RFC 7592 §3)."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": epoch(client.issued_at),
        **client.metadata_,
    }
    if client.client_secret_hash:
        body["client_secret_expires_at"] = 0
    if client.dynamic:
        body["registration_client_uri"] = ctx.endpoint(
            f"{PATHS['registration_endpoint']}/{client.client_id}"
        )
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def prepare_metadata(ctx: Context, raw: Any) -> dict[str, Any]:
    """Validate metadata for registration or update."""
    metadata = validate_metadata(raw)
    _check_subject_type(ctx, metadata)
    for member in ("consent_event_endpoint", "backchannel_logout_uri"):
        if member in metadata:
            check_push_endpoint(metadata[member], member)
    validate_registration("registering", metadata)
    return metadata


def register(ctx: Context, raw: Any, authorization: str | None) -> dict[str, Any]:
    """Register a client (RFC 7591 §3.1); returns the client information response."""
    check_registration_allowed(ctx, authorization)
    metadata = limit_self_registered_scope(ctx, prepare_metadata(ctx, raw))
    client, secret, registration_token = create_client(ctx, metadata, dynamic=True)
    ctx.store.audit(
        "client_registered",
        client_id=client.client_id,
        client_name=metadata.get("client_name"),
        scope=metadata.get("scope"),
    )
    return client_information(
        ctx, client, client_secret=secret, registration_access_token=registration_token
    )


def managed_client(ctx: Context, client_id: str, authorization: str | None) -> Client:
    """The client a registration access token manages (RFC 7592 §2); 401 otherwise."""
    token = _bearer(authorization)
    client = ctx.store.get_client(client_id)
    if (
        token is None
        or client is None
        or not client.registration_token_hash
        or not constant_time_equals(digest(token), client.registration_token_hash)
    ):
        raise InvalidTokenError("invalid registration access token")
    return client


def update(ctx: Context, client: Client, raw: Any) -> dict[str, Any]:
    """Replace a client's metadata (RFC 7592 §2.2)."""
    if not isinstance(raw, dict) or raw.get("client_id") != client.client_id:
        raise InvalidClientMetadataError("client_id: must be present and equal the client's id")
    if "client_secret" in raw and (
        not client.client_secret_hash
        or not constant_time_equals(digest(str(raw["client_secret"])), client.client_secret_hash)
    ):
        raise InvalidClientMetadataError("client_secret: does not match the current secret")
    body = {
        k: v
        for k, v in raw.items()
        if k
        not in {
            "client_id",
            "client_secret",
            "registration_access_token",
            "registration_client_uri",
            "client_id_issued_at",
            "client_secret_expires_at",
        }
    }
    metadata = prepare_metadata(ctx, body)
    if client.dynamic:
        metadata = limit_self_registered_scope(ctx, metadata)
    needs_secret = metadata["token_endpoint_auth_method"] in {
        "client_secret_basic",
        "client_secret_post",
    }
    if needs_secret and not client.client_secret_hash:
        raise InvalidClientMetadataError(
            "token_endpoint_auth_method: cannot switch a client without a secret to a secret method"
        )
    ctx.store.update_client(client, metadata, client.client_secret_hash if needs_secret else None)
    ctx.store.audit("client_updated", client_id=client.client_id, scope=metadata.get("scope"))
    return client_information(ctx, client)


def delete(ctx: Context, client: Client) -> None:
    """Deregister a client (RFC 7592 §2.3): its grants and tokens go with it, and every active
    consent people gave it ends with an ``invalidated`` record (SPEC.md §6.1), so no one's
    dashboard keeps showing a relationship that can no longer be honoured."""
    invalidate_client(ctx, client.client_id)
    ctx.store.audit("client_deleted", client_id=client.client_id)
    ctx.store.delete_client(client)
