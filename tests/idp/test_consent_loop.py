"""The whole consent loop over real HTTP (issue 5): `porta serve` set up through the CLI, an RP
written with plain `requests` and PyJWT, a person with a browser session, and the RP's
consent-event endpoint as a live server on 127.0.0.1.

The RP asks for name, email and a custom claim; the person unticks email; the ID token and
UserInfo carry no email; the receipt verifies against the JWKS and validates against
consent_spec; the person withdraws on the dashboard; the RP's tokens stop working at once and
its event endpoint receives a valid SET (RFC 8417, RFC 8935); `porta consents verify-ledger`
passes, and fails once a ledger row is edited in the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
import pytest
import requests
from sqlalchemy import update

import consent_spec
from idp.consent.events import WITHDRAWN
from idp.profile.accounts import create_user
from idp.storage import Store
from idp.storage.db import make_engine, make_sessionmaker
from idp.storage.models import ConsentRecord
from tests.live import LivePorta, porta_executable

EMAIL = "carla@example.org"
PASSWORD = "carla-password-1"
SHOE = "https://shop.example/claims/shoe-size"
REDIRECT = "http://127.0.0.1:9/callback"  # nothing listens: the redirect is read, not followed
ASKED = {
    "id_token": {"name": None, "email": None},
    "userinfo": {"name": None, "email": None, SHOE: {"essential": False}},
}


class _EventEndpoint(BaseHTTPRequestHandler):
    """An RP's push endpoint (RFC 8935 §2): records each SET and accepts it with 202."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.headers.get("Content-Type"), body.decode()))  # type: ignore[attr-defined]
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def event_endpoint():
    """A live event receiver on 127.0.0.1, stopped afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EventEndpoint)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="test-event-endpoint", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def porta(tmp_path, database_url, event_endpoint):
    """`porta serve` with one RP registered by `porta clients create` and one person whose
    profile holds a custom claim (set through the Store: the profile catalogue has no CLI yet)."""
    live = LivePorta(tmp_path, database_url=database_url)
    if not database_url.startswith("sqlite"):
        live.cli("db", "upgrade")  # the CLI upgrades SQLite by itself, PostgreSQL on request
    endpoint = f"http://127.0.0.1:{event_endpoint.server_port}/events"
    creds = live.create_client(
        "--name", "Shoe Shop", "--redirect-uri", REDIRECT, "--consent-event-endpoint", endpoint
    )
    engine = make_engine(database_url)
    try:
        store = Store(make_sessionmaker(engine)())
        person = create_user(store, EMAIL, PASSWORD, "Carla Example")
        person.profile = {**person.profile, SHOE: 38}
        store.commit()
        store.close()
    finally:
        engine.dispose()
    with live.start(workers=1):
        yield live, creds


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _as_person(browser: requests.Session, url: str, untick: tuple[str, ...]) -> dict[str, str]:
    """Log in, untick claims on the consent page, approve; the parameters sent back to the RP."""
    response = browser.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    login_url = urljoin(url, response.headers["Location"])
    interaction = parse_qs(urlsplit(login_url).query)["interaction"][0]
    page = browser.get(login_url, timeout=10)
    form = {
        "csrf_token": _csrf(page.text),
        "interaction": interaction,
        "email": EMAIL,
        "password": PASSWORD,
    }
    response = browser.post(urljoin(url, "/login"), data=form, allow_redirects=False, timeout=30)
    assert response.status_code == 303 and "/consent" in response.headers["Location"]
    page = browser.get(urljoin(url, response.headers["Location"]), timeout=10)
    offered = re.findall(r'name="claim" value="([^"]+)"', page.text)
    assert sorted(offered) == sorted(["name", "email", SHOE])
    # Nothing optional is ticked for the person (GDPR Art. 7); they tick what they share.
    assert re.findall(r'name="claim" value="([^"]+)" checked', page.text) == []
    form = {
        "csrf_token": _csrf(page.text),
        "interaction": interaction,
        "decision": "approve",
        "claim": [c for c in offered if c not in untick],
    }
    if 'name="offline_access"' in page.text:
        form["offline_access"] = "yes"  # "keep me signed in", a choice of its own
    response = browser.post(urljoin(url, "/consent"), data=form, allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"].startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def _verify(
    token: str, jwks: dict[str, Any], *, typ: str, issuer: str, audience: str
) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    assert header["typ"] == typ
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    return jwt.decode(
        token, jwt.PyJWK(key), algorithms=[header["alg"]], issuer=issuer, audience=audience
    )


def _verify_ledger(live: LivePorta) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [porta_executable(), "consents", "verify-ledger"],
        capture_output=True,
        text=True,
        env=live.env,
        cwd=live.workdir,
        timeout=120,
    )


def _tamper(database_url: str, record_id: str) -> None:
    """Rewrite a ledger row behind Porta's back: the record now says email was granted."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            (raw,) = db.execute(
                "SELECT document FROM consent_records WHERE record_id = ?", (record_id,)
            ).fetchone()
            document = json.loads(raw)
            document["granted"]["email"] = {"purposes": ["service-provision"]}
            document["refused"] = []
            db.execute(
                "UPDATE consent_records SET document = ? WHERE record_id = ?",
                (json.dumps(document), record_id),
            )
        return
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            row = conn.execute(
                ConsentRecord.__table__.select().where(ConsentRecord.record_id == record_id)
            ).one()
            document = dict(row.document)
            document["granted"] = {
                **document["granted"],
                "email": {"purposes": ["service-provision"]},
            }
            document["refused"] = []
            conn.execute(
                update(ConsentRecord.__table__)
                .where(ConsentRecord.record_id == record_id)
                .values(document=document)
            )
    finally:
        engine.dispose()


@pytest.fixture
def sessions(porta):
    """The RP's HTTP client and the person's browser, closed before the server stops (an open
    keep-alive connection would hold up its graceful shutdown)."""
    with requests.Session() as rp, requests.Session() as browser:
        yield rp, browser


def test_consent_loop_over_real_http(porta, sessions, event_endpoint, database_url):
    live, creds = porta
    rp, browser = sessions
    client_id, secret = creds["client_id"], creds["client_secret"]
    meta = rp.get(live.issuer + "/.well-known/openid-configuration", timeout=10).json()
    jwks = rp.get(meta["jwks_uri"], timeout=10).json()

    # The RP asks for name, email and a custom claim (OIDC Core §5.5), with PKCE.
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access",
        "claims": json.dumps(ASKED),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{meta['authorization_endpoint']}?{urlencode(query)}"
    callback = _as_person(browser, url, untick=("email",))
    assert callback["state"] == state and callback["iss"] == live.issuer

    response = rp.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    id_token = _verify(tokens["id_token"], jwks, typ="JWT", issuer=live.issuer, audience=client_id)
    assert id_token["nonce"] == nonce
    assert id_token["name"] == "Carla Example" and "email" not in id_token
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    profile = rp.get(meta["userinfo_endpoint"], headers=bearer, timeout=10).json()
    assert profile == {"sub": id_token["sub"], "name": "Carla Example", SHOE: 38}
    refreshed = rp.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client_id, secret),
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    refreshed_id_token = _verify(
        refreshed.json()["id_token"], jwks, typ="JWT", issuer=live.issuer, audience=client_id
    )
    assert "email" not in refreshed_id_token

    # The receipt proves what was decided: signed by the provider, valid consent_spec.
    receipt = consent_spec.verify_receipt(
        tokens["consent_receipt"], jwks, issuer=live.issuer, audience=client_id
    )
    assert consent_spec.validate(receipt, "consent-receipt") == []
    record = receipt["consent_record"]
    assert record["state"] == "given" and record["subject"] == id_token["sub"]
    assert sorted(record["granted"]) == sorted(["name", SHOE]) and record["refused"] == ["email"]

    # The person withdraws on the dashboard, in the browser session that logged in.
    page = browser.get(f"{live.issuer}/account/relationships/{client_id}", timeout=10)
    assert page.status_code == 200 and 'id="withdraw"' in page.text
    response = browser.post(
        f"{live.issuer}/account/relationships/{client_id}/withdraw",
        data={"csrf_token": _csrf(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303

    # At once: the RP's access and refresh tokens (the rotated ones too) no longer work.
    for access_token in (tokens["access_token"], refreshed.json()["access_token"]):
        bearer = {"Authorization": f"Bearer {access_token}"}
        assert rp.get(meta["userinfo_endpoint"], headers=bearer, timeout=10).status_code == 401
    again = rp.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
        auth=(client_id, secret),
        timeout=10,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # The RP's event endpoint receives a consent-withdrawn SET (bounded wait for the push).
    deadline = time.monotonic() + 10
    while not event_endpoint.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert event_endpoint.received, "no consent event reached the RP's endpoint"
    content_type, token = event_endpoint.received[0]
    assert content_type == "application/secevent+jwt"
    event = _verify(token, jwks, typ="secevent+jwt", issuer=live.issuer, audience=client_id)
    assert consent_spec.validate(event, "consent-event") == []
    assert event["sub"] == id_token["sub"]
    payload = event["events"][WITHDRAWN]
    assert sorted(payload["claims"]) == sorted(["name", SHOE])
    assert payload["record_id"] == record["record_id"]
    assert (
        len(
            {
                jwt.decode(t, options={"verify_signature": False})["jti"]
                for _, t in event_endpoint.received
            }
        )
        == 1
    )

    # The ledger verifies through the operator's CLI, and a row edited in the database breaks it.
    intact = _verify_ledger(live)
    assert intact.returncode == 0, intact.stderr
    assert "2 entries" in intact.stdout
    _tamper(database_url, record["record_id"])
    broken = _verify_ledger(live)
    assert broken.returncode == 1
    assert "BROKEN" in broken.stderr and record["record_id"] in broken.stderr
