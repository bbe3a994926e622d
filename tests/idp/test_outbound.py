"""The one client for requests to client-supplied URLs (server-side request forgery).

Addresses are refused before any connection; the servers these tests talk to
listen on 127.0.0.1, each bounded in what it sends and stopped afterwards, and
the simulated resolvers answer from a table, so no traffic leaves the machine.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from idp.base.outbound import (
    REFUSED_PRIVATE,
    TIMEOUT,
    OutboundClient,
    OutboundError,
    OutboundRefusedError,
    guard,
    json_fetcher,
)
from idp.base.settings import Settings
from idp.storage.models import EventOutbox
from tests.conftest import exchange, obtain_code, settle, store_of

PUBLIC_ISSUER = Settings(issuer="https://id.example", outbound_private_addresses=False)
LOOPBACK_ISSUER = Settings(issuer="http://127.0.0.1:8000", outbound_private_addresses=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/jwks",
        "https://192.168.1.10/events",
        "http://172.16.5.4:5432/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://100.100.100.200/latest/meta-data/",  # cloud metadata in 100.64.0.0/10 (RFC 6598)
        "http://198.18.0.1/",  # benchmarking (RFC 2544)
        "http://[::ffff:10.0.0.1]/",  # IPv4-mapped private address
        "http://[fd00::1]/",  # unique local (RFC 4193)
        "http://[fe80::1]/x",
        "http://0.0.0.0/",
        "http://127.0.0.1:5432/",
        "http://localhost/",
        "ftp://example.org/file",
    ],
)
def test_a_public_provider_refuses_internal_targets(url):
    with pytest.raises(OutboundRefusedError):
        guard(PUBLIC_ISSUER)(url)


def test_a_provider_on_loopback_may_reach_loopback_but_not_private_networks():
    check = guard(LOOPBACK_ISSUER)
    check("http://127.0.0.1:5001/events")
    with pytest.raises(OutboundRefusedError):
        check("http://10.1.2.3/events")


def test_operators_can_allow_private_networks():
    check = guard(replace(PUBLIC_ISSUER, outbound_private_addresses=True))
    check("http://10.0.0.1/jwks")
    check("http://127.0.0.1/jwks")


def test_registration_refuses_a_sector_document_on_an_internal_host(make_app):
    app = make_app(ISSUER="https://id.example")
    response = app.test_client().post(
        "/register",
        json={
            "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
            "sector_identifier_uri": "https://10.0.0.7/sector.json",
        },
        base_url="https://id.example",
    )
    assert response.status_code == 400
    body = response.get_json()
    assert (
        body["error"] == "invalid_client_metadata"
        and "sector_identifier_uri" in body["error_description"]
    )


# -- the client itself, against local servers and simulated resolvers -------------------------

FAST = replace(LOOPBACK_ISSUER, outbound_deadline_seconds=1)


class _Recorder(BaseHTTPRequestHandler):
    """Answers by path: /doc a JSON array, /redirect a 302 to ``target``, /boom a 500 with a secret."""

    hits: list[str]
    target = ""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer()

    def _answer(self) -> None:
        self.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, body = (200, b'["https://a.example/cb"]')
        if self.path.startswith("/boom"):
            status, body = 500, b'{"AccessKeyId": "AKIA-INTERNAL-SECRET"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def local_server():
    """Start recording servers on 127.0.0.1: ``url, hits = local_server(target="…")``."""
    servers = []

    def start(target: str = "") -> tuple[str, list[str]]:
        hits: list[str] = []
        handler = type("Handler", (_Recorder,), {"hits": hits, "target": target})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", hits

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dripping_server():
    """A server on 127.0.0.1 that sends its answer one byte every 0.2 s.

    ``phase="headers"`` drips the status line and headers, ``"body"`` a JSON body after
    whole headers. It stops by itself after 200 bytes (40 s) or when the client goes away.
    """
    servers = []

    def start(phase: str) -> str:
        body = b"[" + b" " * 150 + b"]"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)

        class Drip(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                if phase == "body":
                    self.request.sendall(head)
                data = (head if phase == "headers" else b"") + body
                for i in range(min(len(data), 200)):
                    try:
                        self.request.sendall(data[i : i + 1])
                    except OSError:
                        return  # the client hung up: stop
                    time.sleep(0.2)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Drip)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/sector.json"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def table_resolver(answers: dict[str, list[str]], asked: list[str]):
    """A simulated DNS: answers from a table and records each question."""

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    "address", ["100.64.0.1", "10.0.0.7", "192.0.2.1", "2001:db8::1", "::ffff:127.0.0.1"]
)
def test_a_resolved_special_purpose_address_is_refused_at_connect_time(address):
    asked: list[str] = []
    client = OutboundClient(
        PUBLIC_ISSUER, resolver=table_resolver({"rp.example": [address]}, asked)
    )
    with pytest.raises(OutboundRefusedError) as refused:
        client.fetch_json("https://rp.example/jwks.json")
    assert refused.value.status in {REFUSED_PRIVATE, "refused: loopback address"}
    assert asked == ["rp.example"]


def test_one_private_answer_among_public_ones_refuses_the_host():
    answers = {"rp.example": ["93.184.215.14", "169.254.169.254"]}
    client = OutboundClient(PUBLIC_ISSUER, resolver=table_resolver(answers, []))
    with pytest.raises(OutboundRefusedError) as refused:
        client.fetch_json("https://rp.example/jwks.json")
    assert refused.value.status == REFUSED_PRIVATE


def test_the_checked_address_is_the_one_connected_to(monkeypatch, local_server):
    """DNS rebinding: the name resolves to an allowed address once, then to a private one.

    The old guard resolved, then requests resolved again and connected to the second
    answer. The client resolves once, inside the connection, and connects to what it checked.
    """
    url, hits = local_server()
    port = int(url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] + ["10.255.255.1"] * 10)
    asked: list[str] = []

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        asked.append(host)
        return real(next(answers), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    document = json_fetcher(FAST)(f"http://rebind.test:{port}/doc")
    assert document == ["https://a.example/cb"]
    assert hits == ["/doc"] and asked == ["rebind.test"]


def test_redirects_are_not_followed(local_server):
    target, target_hits = local_server()
    url, _ = local_server(target=f"{target}/internal")
    client = OutboundClient(FAST)
    with pytest.raises(OutboundError) as failed:
        client.fetch_json(f"{url}/redirect")
    assert failed.value.status == "HTTP 3xx"
    assert client.post(f"{url}/redirect", data=b"x") == 302
    assert target_hits == []


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_server_meets_the_overall_deadline(dripping_server, phase):
    """Each byte arrives well within any per-read timeout; only an overall deadline stops it."""
    with pytest.raises(OutboundError) as failed:
        OutboundClient(FAST).fetch_json(dripping_server(phase))
    assert failed.value.status == TIMEOUT


def test_registration_gives_up_on_a_dripping_sector_document(make_app, dripping_server):
    app = make_app(OUTBOUND_DEADLINE_SECONDS=1)
    response = app.test_client().post(
        "/register",
        json={
            "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
            "sector_identifier_uri": dripping_server("body"),
        },
    )
    assert response.status_code == 400
    assert "sector_identifier_uri" in response.get_json()["error_description"]


def test_failures_are_described_by_status_class_only(local_server):
    url, _ = local_server()
    client = OutboundClient(FAST)
    with pytest.raises(OutboundError) as failed:
        client.fetch_json(f"{url}/boom")
    assert str(failed.value) == failed.value.status == "HTTP 5xx"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens on this port now
    with pytest.raises(OutboundError) as failed:
        client.fetch_json(f"http://127.0.0.1:{port}/")
    assert failed.value.status == "connection failed"


def test_fetches_beyond_the_concurrency_cap_are_refused(local_server):
    url, hits = local_server()
    settings = replace(FAST, outbound_max_concurrent=1)
    client = OutboundClient(settings)
    slots = client._slots
    assert slots.acquire(timeout=1)  # another fetch of this process holds the only slot
    try:
        with pytest.raises(OutboundError) as failed:
            client.fetch_json(f"{url}/doc")
    finally:
        slots.release()
    assert failed.value.status == "refused: too many outbound requests" and hits == []
    assert client.fetch_json(f"{url}/doc") == ["https://a.example/cb"]


# -- event push and back-channel logout store a status class, never what came back ------------


def _logout_rows(app) -> list[EventOutbox]:
    store = store_of(app)
    try:
        return list(store.session.scalars(select(EventOutbox)))
    finally:
        store.close()


def _log_out_with_backchannel(app, http, register, endpoint: str) -> None:
    client = register(backchannel_logout_uri=endpoint)
    id_token = exchange(http, client, obtain_code(http, client, scope="openid")["code"]).get_json()[
        "id_token"
    ]
    assert http.get(f"/logout?id_token_hint={id_token}").status_code == 200
    settle(app)


def test_an_event_push_does_not_follow_a_redirect(app, http, register, user, local_server):
    internal, internal_hits = local_server()
    redirector, _ = local_server(target=f"{internal}/latest/meta-data/")
    _log_out_with_backchannel(app, http, register, f"{redirector}/redirect")
    (row,) = _logout_rows(app)
    assert (row.status, row.last_error) == ("pending", "HTTP 3xx")
    assert internal_hits == []


def test_a_receivers_error_body_is_never_stored(app, http, register, user, local_server):
    url, hits = local_server()
    _log_out_with_backchannel(app, http, register, f"{url}/boom")
    (row,) = _logout_rows(app)
    assert hits == ["/boom"]
    assert row.last_error == "HTTP 5xx"


def test_a_connection_error_text_is_never_stored(app, http, register, user):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    _log_out_with_backchannel(app, http, register, f"http://127.0.0.1:{port}/bcl")
    (row,) = _logout_rows(app)
    assert row.last_error == "connection failed"
