"""Requests Porta itself makes to addresses chosen by clients, and the guard on them.

Porta fetches a client's ``jwks_uri`` and ``sector_identifier_uri``, an
exporting provider's keys, and pushes events to a client's
``consent_event_endpoint`` and ``backchannel_logout_uri``. Anyone can register a
client, so each of these is a way to make the provider send requests into its
own network (server-side request forgery, RFC 9700 §4.x on client-supplied
URLs). Before each request the target host is resolved and refused when it is
a private, link-local, reserved or unspecified address; loopback is allowed
only while the provider itself runs on loopback (demo, development, tests).
``PORTA_OUTBOUND_PRIVATE_ADDRESSES=true`` lifts the rule for deployments whose
relying parties live on an internal network.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from idp.base.settings import Settings

MAX_DOCUMENT_BYTES = 256 * 1024


class OutboundRefusedError(ValueError):
    """The target of an outbound request is not allowed."""


def _issuer_is_loopback(issuer: str) -> bool:
    host = urlsplit(issuer).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def guard(settings: Settings) -> Callable[[str], None]:
    """A check to call with each URL before requesting it; raises OutboundRefusedError."""
    allow_private = settings.outbound_private_addresses
    allow_loopback = allow_private or _issuer_is_loopback(settings.issuer)

    def check(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise OutboundRefusedError("only http(s) URLs with a host are fetched")
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise OutboundRefusedError("the host does not resolve") from exc
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if address.is_loopback:
                if not allow_loopback:
                    raise OutboundRefusedError("loopback addresses are not fetched")
            elif (
                address.is_private
                or address.is_link_local
                or address.is_reserved
                or address.is_multicast
                or address.is_unspecified
            ) and not allow_private:
                raise OutboundRefusedError("private or reserved addresses are not fetched")

    return check


def json_fetcher(settings: Settings) -> Callable[[str], Any]:
    """GET a JSON document (a client's jwks_uri…) through the guard, bounded in time and size."""
    check = guard(settings)

    def fetch(url: str) -> Any:
        check(url)
        response = requests.get(
            url,
            timeout=5,
            headers={"Accept": "application/json"},
            stream=True,
            allow_redirects=False,
        )
        response.raise_for_status()
        body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ValueError("document too large")
        return json.loads(body)

    return fetch
