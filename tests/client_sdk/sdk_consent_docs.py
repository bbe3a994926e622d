"""Consent documents for the tests: a receipt and consent-event SETs valid under consent_spec 1.0.

Built by hand from the consent_spec schemas (SPEC.md §5, §7, §13) so the SDK is checked
against documents it did not produce.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import consent_spec

PORTA_TEST_ISSUER = "https://porta.test"
WITHDRAWN = "https://porta.example/consent-spec/1.0/event/consent-withdrawn"
NARROWED = "https://porta.example/consent-spec/1.0/event/consent-narrowed"


def consent_record(subject: str, client_id: str) -> dict[str, Any]:
    """A 'given' consent record for the email claim."""
    claim_request = {
        "essential": True,
        "purposes": ["service-provision"],
        "retention": {"duration": "P1Y", "from": "end-of-relationship"},
        "sensitivity": "moderate",
        "third_party_disclosure": {"disclosed": False},
    }
    return {
        "spec_version": "1.0",
        "record_id": str(uuid.uuid4()),
        "sequence": 0,
        "previous_hash": consent_spec.GENESIS_HASH,
        "state": "given",
        "subject": subject,
        "request": {
            "spec_version": "1.0",
            "request_id": str(uuid.uuid4()),
            "created_at": "2026-11-23T02:00:00Z",
            "relying_party": {
                "client_id": client_id,
                "name": "Test Shop",
                "policy_url": "https://shop.test/privacy",
                "jurisdiction": "EU",
                "contact": {"name": "Shop DPO", "email": "dpo@shop.test"},
            },
            "legal_basis": "consent",
            "claims": {"email": claim_request},
        },
        "persona": {"persona_id": "persona-1"},
        "granted": {"email": {"purposes": ["service-provision"]}},
        "refused": [],
        "collection_method": "consent-screen",
        "consent_type": "explicit",
        "jurisdiction": "EU",
        "decided_at": "2026-11-23T02:00:01Z",
        "recorded_at": "2026-11-23T02:00:01Z",
    }


def receipt_claims(subject: str, client_id: str, issuer: str = PORTA_TEST_ISSUER) -> dict[str, Any]:
    """Claims of a consent receipt (consent_spec SPEC.md §7)."""
    record = consent_record(subject, client_id)
    return {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
        "spec_version": "1.0",
        "consent_record": record,
        "record_hash": consent_spec.chain_hash(record, record["previous_hash"]),
    }


def withdrawal_event(
    subject: str, client_id: str, issuer: str = PORTA_TEST_ISSUER, event_type: str = WITHDRAWN
) -> dict[str, Any]:
    """Claims of a consent-event SET (RFC 8417 §2.2, consent_spec SPEC.md §13)."""
    now = int(time.time())
    payload: dict[str, Any] = {"record_id": str(uuid.uuid4()), "new_record_id": str(uuid.uuid4())}
    if event_type == WITHDRAWN:
        payload["claims"] = ["email"]
    else:
        payload["removed_claims"] = ["email"]
    return {
        "iss": issuer,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "aud": client_id,
        "sub": subject,
        "toe": now,
        "events": {event_type: payload},
    }
