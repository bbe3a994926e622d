"""Back-Channel Logout 1.0: logging out at Porta sends a logout token to the RPs of that session."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
import pytest
from sqlalchemy import select

from idp.storage.models import EventOutbox
from tests.conftest import ISSUER, exchange, obtain_code, settle, store_of

BACKCHANNEL_LOGOUT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def receiver():
    """A relying party's back-channel logout endpoint on 127.0.0.1 that records what it gets."""
    received: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(parse_qs(self.rfile.read(length).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/backchannel", received
    server.shutdown()
    server.server_close()


def _wait_for(items: list, count: int = 1) -> list:
    deadline = time.monotonic() + 10  # bounded wait for the background push; not a speed check
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return items


def test_rp_initiated_logout_sends_a_logout_token_with_sid(http, register, user, receiver):
    endpoint, received = receiver
    client = register(backchannel_logout_uri=endpoint, post_logout_redirect_uris=["https://rp.example/bye"])
    params = obtain_code(http, client, scope="openid")
    id_token = exchange(http, client, params["code"]).get_json()["id_token"]
    id_claims = jwt.decode(id_token, options={"verify_signature": False})

    response = http.get(f"/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://rp.example/bye")
    assert response.status_code == 303

    (body,) = _wait_for(received)
    token = body["logout_token"][0]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"  # Back-Channel Logout 1.0 §2.4
    keys = {k["kid"]: jwt.PyJWK(k) for k in http.get("/jwks.json").get_json()["keys"]}
    claims = jwt.decode(token, keys[header["kid"]].key, algorithms=[header["alg"]], audience=client.client_id, issuer=ISSUER)
    assert claims["events"] == {BACKCHANNEL_LOGOUT: {}}
    assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
    assert "nonce" not in claims  # §2.4: a logout token must not carry a nonce


def _queued_logout_tokens(app) -> list[EventOutbox]:
    """The back-channel logout tokens in the outbox, delivered or not."""
    store = store_of(app)
    try:
        return list(store.session.scalars(select(EventOutbox).where(EventOutbox.event_type == BACKCHANNEL_LOGOUT)))
    finally:
        store.close()


def test_rp_without_backchannel_uri_gets_nothing(app, http, register, rp, user, receiver):
    """Both RPs got tokens in one session; only the one that registered a URI is told of its end."""
    endpoint, received = receiver
    listening = register(backchannel_logout_uri=endpoint)
    exchange(http, listening, obtain_code(http, listening, scope="openid")["code"])
    params = obtain_code(http, rp, scope="openid")  # the same browser: the same session
    id_token = exchange(http, rp, params["code"]).get_json()["id_token"]

    assert http.get(f"/logout?id_token_hint={id_token}").status_code == 200
    settle(app)  # the push the logout started has finished

    queued = _queued_logout_tokens(app)
    assert [(row.client_id, row.endpoint, row.status) for row in queued] == [
        (listening.client_id, endpoint, "delivered")
    ]
    assert len(received) == 1


def test_discovery_advertises_backchannel_logout(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
