"""POST /account/api/withdrawals: a consent_spec withdrawal document from the person (SPEC.md §9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import jwt
import pytest

from tests.conftest import exchange, obtain_code, token_request


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def granted(http, rp, user):
    """A consent for name + email with tokens, and the record the receipt carries."""
    params = obtain_code(http, rp, scope="openid profile email offline_access", prompt="consent")
    tokens = exchange(http, rp, params["code"]).get_json()
    record = jwt.decode(tokens["consent_receipt"], options={"verify_signature": False})["consent_record"]
    return tokens, record


def _document(rp, record, **changes):
    document = {
        "spec_version": "1.0",
        "withdrawal_id": str(uuid.uuid4()),
        "record_id": record["record_id"],
        "client_id": rp.client_id,
        "subject": record["subject"],
        "action": "withdraw",
        "initiated_by": "person",
        "requested_at": _now(),
        "effective_at": _now(),
    }
    document.update(changes)
    return document


def test_withdraw_document_revokes_at_once(http, rp, granted):
    tokens, record = granted
    response = http.post("/account/api/withdrawals", json=_document(rp, record))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "withdrawn"
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401
    refreshed = token_request(http, rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400


def test_narrow_document_removes_one_claim(http, rp, granted):
    tokens, record = granted
    document = _document(rp, record, action="narrow", removes={"claims": ["email"]})
    response = http.post("/account/api/withdrawals", json=document)
    assert response.status_code == 200, response.get_json()
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()
    assert "email" not in info and info["name"] == "Alice Example"


def test_invalid_documents_change_nothing(http, rp, granted):
    tokens, record = granted
    cases = [
        (http.post("/account/api/withdrawals", data={"x": "y"}), 415),
        (http.post("/account/api/withdrawals", json=[1, 2]), 400),
        (http.post("/account/api/withdrawals", json=_document(rp, record, action="erase")), 400),
        (http.post("/account/api/withdrawals", json=_document(rp, record, record_id=str(uuid.uuid4()))), 409),
        (http.post("/account/api/withdrawals", json=_document(rp, record, subject="someone-else")), 400),
        (http.post("/account/api/withdrawals", json=_document(rp, record, effective_at="2999-01-01T00:00:00Z")), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"] == "invalid_request"
    # Nothing happened: the tokens still work.
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200


def test_requires_the_persons_session(make_app, rp, granted):
    _tokens, record = granted
    stranger = make_app().test_client()
    response = stranger.post("/account/api/withdrawals", json=_document(rp, record))
    assert response.status_code == 401


def test_discovery_advertises_the_endpoint(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["consent_withdrawal_endpoint"].endswith("/account/api/withdrawals")
