"""Subject identifiers: public or pairwise (OIDC Core §8, §8.1)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from idp.base.context import Context
from idp.base.encoding import b64url
from idp.storage.models import Client


def sector_identifier(client: Client) -> str:
    """The host that pairwise subjects are computed for (OIDC Core §8.1).

    Without a ``sector_identifier_uri`` it is the single host of the registered
    redirect URIs; registration refuses several hosts without one.
    """
    metadata = client.metadata_
    if metadata.get("sector_identifier_uri"):
        return urlsplit(metadata["sector_identifier_uri"]).hostname or ""
    hosts = {urlsplit(uri).hostname or "" for uri in metadata.get("redirect_uris", [])}
    if len(hosts) == 1:
        return hosts.pop()
    # Clients without redirect URIs (client_credentials only) never see a person's sub.
    return client.client_id


def subject_type(client: Client, default: str) -> str:
    """The subject type this client receives."""
    return client.metadata_.get("subject_type", default)


def subject_for(client: Client, user_id: str, default_type: str, salt: str) -> str:
    """The ``sub`` value ``client`` receives for the person ``user_id``."""
    if subject_type(client, default_type) == "public":
        return user_id
    material = f"{sector_identifier(client)}\x00{user_id}\x00{salt}".encode()
    return b64url(hashlib.sha256(material).digest())


def distinct_redirect_hosts(redirect_uris: list[str]) -> set[str]:
    """Hosts among the redirect URIs (pairwise clients need exactly one, OIDC Core §8.1)."""
    return {urlsplit(uri).hostname or "" for uri in redirect_uris}


def subject(ctx: Context, client: Client, user_id: str) -> str:
    """The ``sub`` this client sees for the person."""
    return subject_for(client, user_id, ctx.settings.default_subject_type, ctx.settings.secret_key)
