"""Pairwise subject identifiers (OIDC Core §8, §8.1) and sector_identifier_uri validation."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from idp.base.encoding import b64url
from idp.profile.subjects import subject_for
from idp.storage.models import Client
from tests.conftest import RegisteredClient, exchange, obtain_code


@pytest.fixture
def sector_host():
    """Serves JSON documents on 127.0.0.1: documents[path] = body."""
    documents: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in documents:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(documents[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", documents
    server.shutdown()
    server.server_close()


def _sub(http, client) -> str:
    params = obtain_code(http, client, scope="openid")
    token = exchange(http, client, params["code"]).get_json()["id_token"]
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def test_different_sectors_get_unlinkable_subjects_and_one_rp_a_stable_one(http, register, user):
    shop = register(redirect_uris=["https://shop.example/cb"])
    bank = register(redirect_uris=["https://bank.example/cb"])
    first = _sub(http, shop)
    assert _sub(http, shop) == first  # stable for the same RP
    assert _sub(http, bank) != first  # unlinkable across sectors
    assert user.id not in (first, _sub(http, bank))  # the internal id never leaks


def test_same_sector_shares_the_subject(http, register, user):
    """Two clients on one host are one sector (§8.1): the same sub, by design."""
    a = register(redirect_uris=["https://shop.example/a"])
    b = register(redirect_uris=["https://shop.example/b"])
    assert _sub(http, a) == _sub(http, b)


def test_public_subject_type_on_request(http, register, user):
    one = register(redirect_uris=["https://one.example/cb"], subject_type="public")
    two = register(redirect_uris=["https://two.example/cb"], subject_type="public")
    assert _sub(http, one) == _sub(http, two)


def test_sector_identifier_uri_joins_hosts_into_one_sector(http, sector_host, user):
    base, documents = sector_host
    uris = ["https://www.shop.example/cb", "https://checkout.shop.example/cb"]
    documents["/sector.json"] = uris
    response = http.post("/register", json={"redirect_uris": uris, "sector_identifier_uri": base + "/sector.json"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    other = http.post("/register", json={"redirect_uris": [uris[0]], "sector_identifier_uri": base + "/sector.json"}).get_json()
    first = RegisteredClient(body["client_id"], body["client_secret"], uris[1], body)
    second = RegisteredClient(other["client_id"], other["client_secret"], uris[0], other)
    assert _sub(http, first) == _sub(http, second)  # one sector: the sector identifier's host


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (["https://www.shop.example/cb"], "does not list"),
        ({"redirect_uris": []}, "JSON array"),
        (None, "could not be fetched"),
    ],
)
def test_sector_identifier_uri_must_list_every_redirect_uri(http, sector_host, document, fragment):
    base, documents = sector_host
    if document is not None:
        documents["/sector.json"] = document
    uris = ["https://www.shop.example/cb", "https://checkout.shop.example/cb"]
    response = http.post("/register", json={"redirect_uris": uris, "sector_identifier_uri": base + "/sector.json"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_client_metadata"
    assert body["error_description"].startswith("sector_identifier_uri") and fragment in body["error_description"]


def test_pairwise_client_on_two_hosts_needs_a_sector_identifier(http):
    response = http.post("/register", json={"redirect_uris": ["https://a.example/cb", "https://b.example/cb"]})
    assert response.status_code == 400
    assert "sector_identifier_uri" in response.get_json()["error_description"]


@pytest.mark.parametrize(
    ("first_uri", "second_uri"),
    [
        ("http://127.0.0.1/cb", "http://127.0.0.1/callback"),
        ("com.example.notes:/cb", "org.example.photos:/cb"),
    ],
    ids=["loopback", "private_use_scheme"],
)
def test_two_native_apps_get_different_subjects(http, register, user, first_uri, second_uri):
    """OIDC Core §8.1: a loopback host or a private-use scheme (RFC 8252 §7.1, §7.3) names
    no owner, so each native client is its own sector and two apps cannot link a person."""
    notes = register(redirect_uris=[first_uri], application_type="native")
    photos = register(redirect_uris=[second_uri], application_type="native")
    first = _sub(http, notes)
    assert _sub(http, notes) == first  # stable for the same app
    assert _sub(http, photos) != first


def test_a_sector_identifier_uri_groups_native_apps(http, sector_host, user):
    """One publisher may still join its native apps with a sector_identifier_uri (§8.1)."""
    base, documents = sector_host
    uris = ["http://127.0.0.1/cb", "com.example.app:/cb"]
    documents["/sector.json"] = uris
    clients = []
    for uri in uris:
        response = http.post(
            "/register",
            json={"redirect_uris": [uri], "application_type": "native", "sector_identifier_uri": base + "/sector.json"},
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        clients.append(RegisteredClient(body["client_id"], body["client_secret"], uri, body))
    assert _sub(http, clients[0]) == _sub(http, clients[1])


def test_a_native_app_may_register_both_loopback_addresses(http):
    """RFC 8252 §7.3 suggests 127.0.0.1 and [::1]; both are the one client's own sector."""
    response = http.post(
        "/register",
        json={"redirect_uris": ["http://127.0.0.1/cb", "http://[::1]/cb"], "application_type": "native"},
    )
    assert response.status_code == 201, response.get_json()


def test_a_web_clients_subject_is_still_its_hosts():
    """A web client's sector stays the host of its redirect URIs, so its subs do not change."""
    client = Client(client_id="c1", metadata_={"redirect_uris": ["https://shop.example/cb"]})
    expected = b64url(hashlib.sha256(b"shop.example\x00person-1\x00salt").digest())
    assert subject_for(client, "person-1", "pairwise", "salt") == expected
