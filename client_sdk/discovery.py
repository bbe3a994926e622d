"""Finding the provider's metadata (OIDC Discovery 1.0 §4, RFC 8414 §3)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from client_sdk.errors import DiscoveryError


def discovery_urls(issuer: str) -> list[str]:
    """Where to look: OIDC's ``/.well-known/openid-configuration`` under the issuer, then
    RFC 8414's ``/.well-known/oauth-authorization-server`` with the issuer's path after it."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")
    )
    return [oidc, rfc8414]


def discover(session: requests.Session, issuer: str, timeout: float) -> dict[str, Any]:
    """The first metadata document found; its ``issuer`` must be exactly ``issuer``
    (Discovery §4.3, RFC 8414 §3.3). Raises :class:`DiscoveryError`."""
    failures = []
    for url in discovery_urls(issuer):
        try:
            response = session.get(url, timeout=timeout, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            failures.append(f"{url}: {exc}")
            continue
        if response.status_code != 200:
            failures.append(f"{url}: HTTP {response.status_code}")
            continue
        try:
            document = response.json()
        except ValueError:
            failures.append(f"{url}: not JSON")
            continue
        if not isinstance(document, dict):
            failures.append(f"{url}: not a JSON object")
            continue
        if document.get("issuer") != issuer:
            raise DiscoveryError(
                f"metadata at {url} names issuer {document.get('issuer')!r}, but this "
                f"client was configured for {issuer!r}; they must be identical "
                "(OIDC Discovery §4.3) — check the issuer URL, including any trailing slash"
            )
        return document
    raise DiscoveryError(
        f"could not discover provider metadata for {issuer!r}: " + "; ".join(failures)
    )
