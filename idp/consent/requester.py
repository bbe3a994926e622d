"""Who is asking: what a person is shown about a relying party before deciding, and on the
dashboard (issue 14 item 3). The name a site gives itself proves nothing; the person also
sees where it sends them back to, who registered it, how to reach it, and a warning when
its name looks like another site's here."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from idp.base.context import Context
from idp.storage.models import Client

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Characters that a display name swaps to imitate another (a small, explicit table).
CONFUSABLE = str.maketrans({"0": "o", "1": "l", "i": "l", "3": "e", "5": "s", "$": "s", "@": "a"})


@dataclass(frozen=True)
class Requester:
    """A relying party as the person should see it."""

    name: str
    domains: list[str]  # hosts of its redirect URIs; "an app on this device" for native apps
    self_registered: bool  # registered itself through /register: nobody checked it
    contacts: list[str]
    lookalikes: list[str]  # other sites here whose names equal or resemble this one
    logo_uri: str | None  # only for operator-registered clients


def _skeleton(name: str) -> str:
    """A name folded so that look-alikes compare equal: case, accents, spacing, swaps."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold()
    return "".join(ch for ch in folded.translate(CONFUSABLE) if ch.isalnum())


def _close(a: str, b: str) -> bool:
    """Equal, or one edit apart (a letter added, dropped or changed)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 4:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def domains_of(client: Client) -> list[str]:
    """Where the site sends the person back to: one entry per host, native apps named so."""
    out: list[str] = []
    for uri in client.metadata_.get("redirect_uris", []):
        parts = urlsplit(uri)
        host = parts.hostname or ""
        label = (
            "an app on this device"
            if parts.scheme not in ("https", "http") or host in LOOPBACK
            else host
        )
        if label not in out:
            out.append(label)
    return out


def describe(ctx: Context, client: Client) -> Requester:
    """Everything the consent page and the dashboard say about who is asking."""
    metadata = client.metadata_
    name = metadata.get("client_name") or client.client_id
    skeleton = _skeleton(name)
    lookalikes = sorted(
        {
            other.metadata_.get("client_name") or other.client_id
            for other in ctx.store.list_clients()
            if other.client_id != client.client_id
            and _close(skeleton, _skeleton(other.metadata_.get("client_name") or other.client_id))
        }
    )
    contacts = [str(c) for c in metadata.get("contacts", []) if isinstance(c, str)]
    contact = (metadata.get("consent") or {}).get("contact") or {}
    if isinstance(contact, dict) and contact.get("email") and contact["email"] not in contacts:
        contacts.append(contact["email"])
    logo = metadata.get("logo_uri")
    return Requester(
        name=name,
        domains=domains_of(client),
        self_registered=bool(client.dynamic),
        contacts=contacts,
        lookalikes=lookalikes,
        logo_uri=logo
        if not client.dynamic and isinstance(logo, str) and logo.startswith("https://")
        else None,
    )
