"""The audit log (issue 13, item 8): request ids on every response, one JSON line per security
event on the ``porta.audit`` logger, and never a credential in it."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from idp.base import audit
from idp.keys import rotate_keys
from tests.conftest import (
    PASSWORD,
    SECRET_KEY,
    RegisteredClient,
    csrf_from,
    exchange,
    obtain_code,
    store_of,
)


def _lines(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "porta.audit"]


def test_every_response_carries_a_request_id(http):
    generated = http.get("/.well-known/openid-configuration").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert http.get("/.well-known/openid-configuration").headers["X-Request-ID"] != generated
    echoed = http.get("/jwks.json", headers={"X-Request-ID": "edge-42.a"})
    assert echoed.headers["X-Request-ID"] == "edge-42.a"
    not_found = http.get("/no-such-page", headers={"X-Request-ID": "edge-43"})
    assert not_found.status_code == 404 and not_found.headers["X-Request-ID"] == "edge-43"


@pytest.mark.parametrize("given", ["two words", "x" * 129, 'quote"d', "line;break=1"])
def test_a_malformed_request_id_is_replaced_not_echoed(http, given):
    """An id that could split or forge a log field is not copied into the logs."""
    sent = http.get("/jwks.json", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert sent != given and re.fullmatch(r"[0-9a-f]{32}", sent)


def test_credential_details_are_dropped_from_a_line(caplog):
    with caplog.at_level(logging.INFO, logger="porta.audit"):
        audit.event(
            "example",
            client_id="c-1",
            password="p4ss",
            client_secret="s3cret",
            code="c0de",
            refresh_token="r3fresh",
            code_verifier="v3rifier",
        )
    (line,) = _lines(caplog)
    assert line == {"at": line["at"], "event": "example", "request_id": None, "client_id": "c-1"}


def test_security_events_are_logged_with_their_request_id_and_no_secret(app, http, user, caplog):
    secrets_seen: list[str] = [PASSWORD, SECRET_KEY]
    with caplog.at_level(logging.INFO, logger="porta.audit"):
        # Registration (RFC 7591).
        registered = http.post(
            "/register",
            json={"redirect_uris": ["https://rp.example/cb"], "grant_types": ["authorization_code"]},
            headers={"X-Request-ID": "reg-1"},
        )
        assert registered.status_code == 201 and registered.headers["X-Request-ID"] == "reg-1"
        body = registered.get_json()
        secrets_seen += [body["client_secret"], body["registration_access_token"]]
        client = RegisteredClient(body["client_id"], body["client_secret"], "https://rp.example/cb", body)

        # A failed sign-in.
        page = http.get("/login")
        wrong = "not-the-password-9f3"
        secrets_seen.append(wrong)
        failed = http.post(
            "/login",
            data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "alice@example.org", "password": wrong},
        )
        assert failed.status_code == 401

        # Sign-in, consent, code exchange, then the code replayed.
        code = obtain_code(http, client, scope="openid email")["code"]
        tokens = exchange(http, client, code).get_json()
        secrets_seen += [code, tokens["access_token"], tokens["id_token"]]
        replayed = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri},
            auth=(client.client_id, client.client_secret),
            headers={"X-Request-ID": "replay-7"},
        )
        assert replayed.status_code == 400

        # Key rotation (what `porta keys rotate` and the pump do).
        store = store_of(app)
        try:
            rotate_keys(store, SECRET_KEY, 3600)
            store.commit()
        finally:
            store.close()

    lines = _lines(caplog)
    by_event = {line["event"]: line for line in lines}
    assert {"client_registered", "login_failed", "login_succeeded", "consent_changed", "code_reuse", "keys_rotated"} <= set(by_event)
    assert by_event["client_registered"]["request_id"] == "reg-1"
    assert by_event["client_registered"]["client_id"] == client.client_id
    assert by_event["login_failed"]["request_id"] == failed.headers["X-Request-ID"]
    assert by_event["code_reuse"]["request_id"] == "replay-7"
    assert by_event["consent_changed"]["state"] == "given"
    assert by_event["keys_rotated"]["request_id"] is None  # not part of any request
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets_seen:
        assert secret not in logged


def test_served_providers_write_the_trail_to_stderr_as_json_lines():
    """Without a handler Python would drop INFO lines; idp.wsgi and `porta serve --dev` add one."""
    program = "from idp.base import audit; audit.log_to_stderr(); audit.event('probe', client_id='c-9', client_secret='s')"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    (line,) = done.stderr.splitlines()
    assert json.loads(line)["event"] == "probe" and json.loads(line)["client_id"] == "c-9"
    assert '"s"' not in line
