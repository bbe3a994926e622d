"""Requests Porta itself makes to addresses chosen by clients: one guarded client for all.

Porta fetches a client's ``jwks_uri`` and ``sector_identifier_uri``, an
exporting provider's discovery document and keys, and pushes consent events
and back-channel logout tokens to endpoints a client registered. Anyone can
register a client, so each of these is a way to make the provider send
requests into its own network (server-side request forgery; RFC 9700 §4.x on
client-supplied URLs, OIDC Dynamic Registration §7 "Security Considerations").
Every such request goes through :class:`OutboundClient`, which:

* resolves the host **once**, refuses the request when any answer lies in an
  IANA special-purpose block (IPv4 and IPv6 Special-Purpose Address
  Registries, RFC 6890 and its updates: private, shared 100.64.0.0/10,
  link-local, documentation, benchmarking, reserved, multicast…), and connects
  to the address it checked. The check sits in the connection itself (a
  urllib3 connection subclass under a requests transport adapter), so there is
  no second resolution an attacker's DNS could answer differently (rebinding);
  TLS still verifies the certificate against the host name;
* follows no redirects: a 3xx is an answer like any other status;
* bounds each fetch by an overall deadline (``PORTA_OUTBOUND_DEADLINE_SECONDS``)
  enforced by a watchdog that shuts the socket down, so a server dripping one
  byte at a time cannot hold a worker; caps concurrent fetches per process
  (``PORTA_OUTBOUND_MAX_CONCURRENT``) and the size of a response
  (:data:`MAX_DOCUMENT_BYTES`);
* reports failure only as a status class (:class:`OutboundError.status`:
  ``"refused: private address"``, ``"timeout"``, ``"HTTP 5xx"`` …), never a
  response body or an exception text, which would turn delivery status into a
  way to read internal services or scan ports.

Loopback is allowed only while the provider itself runs on loopback (demo,
development, tests). ``PORTA_OUTBOUND_PRIVATE_ADDRESSES=true`` lifts the address
rule for deployments whose relying parties live on an internal network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from idp.base.settings import Settings

MAX_DOCUMENT_BYTES = 256 * 1024

Resolver = Callable[[str, int], list[str]]

# The IANA IPv4 Special-Purpose Address Registry (RFC 6890 §2.2.2 and later updates), plus
# multicast (RFC 5771). Every block is refused, even those IANA marks globally reachable
# (AS112, 6to4 relay): none is where a relying party's endpoint lives.
SPECIAL_PURPOSE_V4 = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network" (RFC 791)
        "10.0.0.0/8",  # private use (RFC 1918)
        "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback (RFC 1122)
        "169.254.0.0/16",  # link local, cloud metadata services (RFC 3927)
        "172.16.0.0/12",  # private use (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890)
        "192.0.2.0/24",  # documentation TEST-NET-1 (RFC 5737)
        "192.31.196.0/24",  # AS112-v4 (RFC 7535)
        "192.52.193.0/24",  # AMT (RFC 7450)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private use (RFC 1918)
        "192.175.48.0/24",  # direct delegation AS112 (RFC 7534)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation TEST-NET-2 (RFC 5737)
        "203.0.113.0/24",  # documentation TEST-NET-3 (RFC 5737)
        "224.0.0.0/4",  # multicast (RFC 5771)
        "240.0.0.0/4",  # reserved (RFC 1112), includes limited broadcast 255.255.255.255
    )
)
# The IANA IPv6 Special-Purpose Address Registry (RFC 6890 §2.2.3 and later updates), plus
# multicast (RFC 4291) and the deprecated site-local block (RFC 3879).
SPECIAL_PURPOSE_V6 = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "::/128",  # unspecified (RFC 4291)
        "::1/128",  # loopback (RFC 4291)
        "64:ff9b::/96",  # IPv4/IPv6 translation: would reach any IPv4 address (RFC 6052)
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
        "100:0:0:1::/64",  # dummy prefix (RFC 9780)
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID… (RFC 2928)
        "2001:db8::/32",  # documentation (RFC 3849)
        "2002::/16",  # 6to4 (RFC 3056)
        "2620:4f:8000::/48",  # direct delegation AS112 (RFC 7534)
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # segment routing SIDs (RFC 9602)
        "fc00::/7",  # unique local (RFC 4193)
        "fe80::/10",  # link-local unicast (RFC 4291)
        "fec0::/10",  # deprecated site-local (RFC 3879)
        "ff00::/8",  # multicast (RFC 4291)
    )
)
_NEVER = (
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("224.0.0.0/4"),
    ipaddress.IPv4Network("240.0.0.0/4"),
    ipaddress.IPv6Network("::/128"),
    ipaddress.IPv6Network("ff00::/8"),
)

# The only texts a failed fetch is ever described by (stored in outboxes, shown to people).
REFUSED_PRIVATE = "refused: private address"
REFUSED_LOOPBACK = "refused: loopback address"
REFUSED_URL = "refused: not an http(s) URL"
REFUSED_BUSY = "refused: too many outbound requests"
UNRESOLVED = "host does not resolve"
TIMEOUT = "timeout"
CONNECTION_FAILED = "connection failed"
TLS_FAILED = "TLS error"
TOO_LARGE = "response too large"
NOT_JSON = "not a JSON document"


def http_status_class(code: int) -> str:
    """``HTTP 5xx`` for 503: the class, not the exact code a probe could learn from."""
    return f"HTTP {code // 100}xx"


class OutboundError(Exception):
    """An outbound request gave no usable answer. ``status`` is one short, fixed text."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class OutboundRefusedError(OutboundError, ValueError):
    """The target of an outbound request is not allowed; nothing was sent."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (one resolution)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _issuer_is_loopback(issuer: str) -> bool:
    host = urlsplit(issuer).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses outbound requests may connect to."""

    allow_loopback: bool
    allow_private: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        allow_private = settings.outbound_private_addresses
        return cls(allow_private or _issuer_is_loopback(settings.issuer), allow_private)

    def refusal(self, text: str) -> str | None:
        """Why ``text`` (an IP address) may not be connected to, or None."""
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        if any(address in block for block in _NEVER if block.version == address.version):
            return REFUSED_PRIVATE
        if address.is_loopback:
            return None if self.allow_loopback else REFUSED_LOOPBACK
        blocks = SPECIAL_PURPOSE_V4 if address.version == 4 else SPECIAL_PURPOSE_V6
        if not self.allow_private and any(address in block for block in blocks):
            return REFUSED_PRIVATE
        return None


def _check_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise OutboundRefusedError(REFUSED_URL) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutboundRefusedError(REFUSED_URL)
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _pinned_addresses(policy: AddressPolicy, resolver: Resolver, host: str, port: int) -> list[str]:
    """Resolve ``host`` once and check every answer; the addresses to connect to, in order."""
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError):
        raise OutboundError(UNRESOLVED) from None
    if not addresses:
        raise OutboundError(UNRESOLVED)
    for address in addresses:
        reason = policy.refusal(address)
        if reason:
            raise OutboundRefusedError(reason)
    return addresses


def guard(settings: Settings, resolver: Resolver = system_resolver) -> Callable[[str], None]:
    """A check of a URL and its resolved addresses without connecting (for early refusals)."""
    policy = AddressPolicy.from_settings(settings)

    def check(url: str) -> None:
        host, port = _check_url(url)
        _pinned_addresses(policy, resolver, host, port)

    return check


@dataclass
class _Attempt:
    """One fetch: the sockets it opened, so the deadline watchdog can shut them down."""

    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            # A duplicate descriptor: shutting it down ends reads on the original too,
            # even after TLS has wrapped (and detached) the original socket object.
            self.sockets.append(sock.dup())
            if self.expired:
                self.sockets[-1].shutdown(socket.SHUT_RDWR)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self.lock:
            for sock in self.sockets:
                sock.close()
            self.sockets.clear()


class _GuardedConnectionMixin:
    """Connects only to addresses checked by the policy, resolved once, in the connection."""

    porta_outbound: OutboundClient  # set on the per-client subclasses

    def _new_conn(self) -> socket.socket:
        client = self.porta_outbound
        host = self.host  # type: ignore[attr-defined]
        port = self.port  # type: ignore[attr-defined]
        addresses = _pinned_addresses(client.policy, client.resolver, host, port)
        last: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), self.timeout)  # type: ignore[attr-defined]
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, "connect timed out") from exc
            except OSError as exc:
                last = exc
                continue
            attempt = client.current_attempt()
            if attempt is not None:
                attempt.watch(sock)
            return sock
        raise NewConnectionError(self, "connection failed") from last  # type: ignore[arg-type]


class _GuardedAdapter(HTTPAdapter):
    """A requests transport adapter whose pools build guarded connections."""

    def __init__(self, client: OutboundClient) -> None:
        self._client = client
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attrs = {"porta_outbound": self._client}
        http_conn = type("PortaHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), attrs)
        https_conn = type("PortaHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PortaHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("PortaHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }


_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def _process_slots(limit: int) -> threading.BoundedSemaphore:
    """One semaphore per process (per limit), shared by every client the process builds."""
    with _slots_lock:
        return _slots.setdefault(limit, threading.BoundedSemaphore(max(1, limit)))


class OutboundClient:
    """The one client for requests to client-supplied URLs (see the module docstring)."""

    def __init__(self, settings: Settings, resolver: Resolver | None = None) -> None:
        self.policy = AddressPolicy.from_settings(settings)
        self.resolver = resolver or system_resolver
        self.deadline = float(settings.outbound_deadline_seconds)
        self._slots = _process_slots(settings.outbound_max_concurrent)
        self._local = threading.local()

    def current_attempt(self) -> _Attempt | None:
        return getattr(self._local, "attempt", None)

    def _request(
        self, method: str, url: str, headers: Mapping[str, str], data: Any, read_body: bool
    ) -> tuple[int, bytes]:
        _check_url(url)
        if not self._slots.acquire(timeout=self.deadline):
            raise OutboundError(REFUSED_BUSY)
        attempt = _Attempt()
        self._local.attempt = attempt
        watchdog = threading.Timer(self.deadline, attempt.expire)
        watchdog.daemon = True
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc from the environment: connect directly
        adapter = _GuardedAdapter(self)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        watchdog.start()
        try:
            response = session.request(
                method,
                url,
                headers={"Accept-Encoding": "identity", **headers},
                data=data,
                timeout=(self.deadline, self.deadline),
                allow_redirects=False,  # a 3xx is an answer: the next hop is never fetched
                stream=True,
            )
            body = b""
            if read_body and 200 <= response.status_code < 300:
                body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=False)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise OutboundError(TOO_LARGE)
            response.close()
            if attempt.expired:
                raise OutboundError(TIMEOUT)
            return response.status_code, body
        except OutboundError:
            raise
        except requests.exceptions.SSLError:
            raise OutboundError(TIMEOUT if attempt.expired else TLS_FAILED) from None
        except requests.exceptions.Timeout:
            raise OutboundError(TIMEOUT) from None
        except Exception:  # requests, urllib3, http.client, socket: never their text
            raise OutboundError(TIMEOUT if attempt.expired else CONNECTION_FAILED) from None
        finally:
            watchdog.cancel()
            session.close()
            attempt.close()
            self._local.attempt = None
            self._slots.release()

    def fetch_json(self, url: str) -> Any:
        """GET a JSON document (jwks_uri, sector_identifier_uri, discovery); OutboundError if not."""
        status, body = self._request(
            "GET", url, {"Accept": "application/json"}, None, read_body=True
        )
        if not 200 <= status < 300:
            raise OutboundError(http_status_class(status))
        try:
            return json.loads(body)
        except ValueError:
            raise OutboundError(NOT_JSON) from None

    def post(self, url: str, data: Any, headers: Mapping[str, str] | None = None) -> int:
        """POST and return the status code; the response body is never read."""
        status, _ = self._request("POST", url, headers or {}, data, read_body=False)
        return status


def json_fetcher(settings: Settings) -> Callable[[str], Any]:
    """``OutboundClient(settings).fetch_json``: the Context's ``fetch_json``."""
    return OutboundClient(settings).fetch_json
