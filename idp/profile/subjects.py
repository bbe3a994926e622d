"""Subject identifiers: public or pairwise (OIDC Core §8, §8.1)."""

from __future__ import annotations

import hashlib
import ipaddress
from urllib.parse import urlsplit

from idp.base.context import Context
from idp.base.encoding import b64url
from idp.storage.models import Client

#: What a native redirect URI contributes to the set of sectors: a loopback or
#: private-use-scheme URI names no host the client owns, so it never joins a shared
#: sector; the client becomes a sector of its own (see ``sector_identifier``).
NATIVE_SECTOR = "\x00native"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_sector(uri: str) -> str:
    """The sector one redirect URI belongs to: its host, or ``NATIVE_SECTOR``.

    OIDC Core §8.1 groups clients by the host of their redirect URIs because a
    host has one owner. A loopback URI (RFC 8252 §7.3) or a private-use URI
    scheme (RFC 8252 §7.1) has no such owner: every native app on every device
    uses ``127.0.0.1``, and a scheme is claimed by whichever app asks first.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or _is_loopback(parts.hostname):
        return NATIVE_SECTOR
    return parts.hostname or ""


def sector_identifier(client: Client) -> str:
    """The sector that pairwise subjects are computed for (OIDC Core §8.1).

    A ``sector_identifier_uri`` names it by its host. Without one it is the
    single host of the registered redirect URIs (registration refuses several),
    except for native redirect URIs (loopback, private-use scheme), whose client
    is a sector of its own: two unrelated native apps never share a ``sub``.
    """
    metadata = client.metadata_
    if metadata.get("sector_identifier_uri"):
        return urlsplit(metadata["sector_identifier_uri"]).hostname or ""
    sectors = distinct_redirect_hosts(metadata.get("redirect_uris", []))
    if len(sectors) == 1:
        sector = sectors.pop()
        if sector != NATIVE_SECTOR:
            return sector
        # The prefix keeps a client id from ever equalling a redirect host.
        return f"native:{client.client_id}"
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
    """Sectors among the redirect URIs (pairwise clients need exactly one, OIDC Core §8.1).

    Native URIs (loopback on any address, private-use schemes) all count as the
    client's own single sector, so ``127.0.0.1`` and ``[::1]`` may be registered together.
    """
    return {redirect_sector(uri) for uri in redirect_uris}


def subject(ctx: Context, client: Client, user_id: str) -> str:
    """The ``sub`` this client sees for the person."""
    return subject_for(client, user_id, ctx.settings.default_subject_type, ctx.settings.secret_key)
