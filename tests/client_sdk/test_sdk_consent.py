"""Consent receipts (``verify_consent_receipt``) and consent events (``client_sdk.events``).

Receipts and SETs are signed here with the fake provider's keys; the client trusts that
provider through static metadata with an https issuer, as consent_spec requires.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from flask import Flask
from sdk_consent_docs import NARROWED, PORTA_TEST_ISSUER, receipt_claims, withdrawal_event
from sdk_fake_op import CLIENT_ID, FakeProvider, SigningKey

from client_sdk import Client, ConsentReceiptError, EventReceiver, SecurityEvent, SecurityEventError

SET_TYPE = "application/secevent+jwt"


@pytest.fixture
def client(fake_op: FakeProvider) -> Client:
    metadata = {"issuer": PORTA_TEST_ISSUER, "jwks_uri": fake_op.issuer + "/jwks"}
    return Client(PORTA_TEST_ISSUER, CLIENT_ID, metadata=metadata, jwks_min_refetch_interval=0)


def sign_receipt(key: SigningKey, claims: dict[str, Any], typ: str = "consent-receipt+jwt") -> str:
    return key.sign(claims, headers={"typ": typ})


def test_valid_receipt_is_verified_with_consent_spec(client: Client, fake_op: FakeProvider) -> None:
    receipt = sign_receipt(fake_op.ec, receipt_claims("alice", CLIENT_ID))
    claims = client.verify_consent_receipt(receipt)
    assert claims["consent_record"]["granted"] == {"email": {"purposes": ["service-provision"]}}
    assert claims["sub"] == "alice"


def test_receipt_with_another_typ_is_rejected(client: Client, fake_op: FakeProvider) -> None:
    receipt = sign_receipt(fake_op.ec, receipt_claims("alice", CLIENT_ID), typ="JWT")
    with pytest.raises(ConsentReceiptError, match="not a consent receipt"):
        client.verify_consent_receipt(receipt)


def test_receipt_with_a_bad_signature_is_rejected(client: Client, fake_op: FakeProvider) -> None:
    receipt = sign_receipt(fake_op.ec, receipt_claims("alice", CLIENT_ID))
    header, payload, _ = receipt.split(".")
    forged = sign_receipt(SigningKey("EC", "ec-1"), receipt_claims("alice", CLIENT_ID))
    with pytest.raises(ConsentReceiptError, match="signature"):
        client.verify_consent_receipt(f"{header}.{payload}.{forged.split('.')[2]}")


def test_receipt_from_another_issuer_is_rejected(client: Client, fake_op: FakeProvider) -> None:
    receipt = sign_receipt(fake_op.ec, receipt_claims("alice", CLIENT_ID, issuer="https://evil.test"))
    with pytest.raises(ConsentReceiptError, match="not by this provider"):
        client.verify_consent_receipt(receipt)


def test_receipt_that_breaks_the_schema_is_rejected(client: Client, fake_op: FakeProvider) -> None:
    claims = receipt_claims("alice", CLIENT_ID)
    del claims["consent_record"]["granted"]
    with pytest.raises(ConsentReceiptError, match="consent_spec"):
        client.verify_consent_receipt(sign_receipt(fake_op.ec, claims))


def sign_set(key: SigningKey, claims: dict[str, Any]) -> str:
    return key.sign(claims, headers={"typ": "secevent+jwt"})


def test_withdrawal_event_reaches_the_handler_once(client: Client, fake_op: FakeProvider) -> None:
    received: list[SecurityEvent] = []
    receiver = EventReceiver(client, received.append)
    token = sign_set(fake_op.ec, withdrawal_event("alice", CLIENT_ID))
    event = receiver.receive(token.encode(), SET_TYPE)
    assert received == [event]
    (consent,) = event.consent_events
    assert consent.withdrawn and consent.ends_consent
    assert consent.subject == "alice" and consent.affected_claims == ["email"]
    again = receiver.receive(token, SET_TYPE + "; charset=utf-8")
    assert again.duplicate and len(received) == 1


def test_narrowing_event_names_removed_claims(client: Client, fake_op: FakeProvider) -> None:
    receiver = EventReceiver(client)
    event = receiver.receive(
        sign_set(fake_op.rsa, withdrawal_event("alice", CLIENT_ID, event_type=NARROWED)), SET_TYPE
    )
    (consent,) = event.consent_events
    assert consent.change == "narrowed" and not consent.ends_consent
    assert consent.affected_claims == ["email"]


@pytest.mark.parametrize(
    ("mutate", "err"),
    [
        (lambda c: c.update(iss="https://evil.test"), "invalid_issuer"),
        (lambda c: c.update(aud="another-rp"), "invalid_audience"),
        (lambda c: c.pop("jti"), "invalid_request"),
        (lambda c: c.update(events={}), "invalid_request"),
        (lambda c: c.update(toe="yesterday"), "invalid_request"),  # consent_spec schema
    ],
    ids=["issuer", "audience", "no-jti", "no-events", "schema"],
)
def test_bad_sets_are_rejected_with_rfc8935_codes(
    client: Client, fake_op: FakeProvider, mutate, err: str
) -> None:
    claims = withdrawal_event("alice", CLIENT_ID)
    mutate(claims)
    with pytest.raises(SecurityEventError) as caught:
        EventReceiver(client).receive(sign_set(fake_op.ec, claims), SET_TYPE)
    assert caught.value.err == err


def test_set_signed_by_an_unknown_key_is_invalid_key(client: Client, fake_op: FakeProvider) -> None:
    stranger = SigningKey("EC", "stranger")
    with pytest.raises(SecurityEventError) as caught:
        EventReceiver(client).receive(sign_set(stranger, withdrawal_event("a", CLIENT_ID)), SET_TYPE)
    assert caught.value.err == "invalid_key"


def test_unsigned_set_is_refused(client: Client) -> None:
    token = jwt.encode(withdrawal_event("a", CLIENT_ID), None, algorithm="none")
    with pytest.raises(SecurityEventError, match="alg 'none'"):
        EventReceiver(client).receive(token, SET_TYPE)


def test_flask_view_answers_202_or_400_json(client: Client, fake_op: FakeProvider) -> None:
    forgotten: list[str] = []

    def forget(event: SecurityEvent) -> None:
        forgotten.extend(c.subject for c in event.consent_events if c.withdrawn)

    app = Flask(__name__)
    app.add_url_rule("/events", view_func=EventReceiver(client, forget).flask_view(), methods=["POST"])
    http = app.test_client()
    token = sign_set(fake_op.ec, withdrawal_event("alice", CLIENT_ID))
    ok = http.post("/events", data=token, content_type=SET_TYPE)
    assert ok.status_code == 202 and forgotten == ["alice"]
    wrong_type = http.post("/events", data=token, content_type="application/json")
    assert wrong_type.status_code == 400
    assert wrong_type.get_json()["err"] == "invalid_request"
    impostor = sign_set(SigningKey("EC", "ec-1"), withdrawal_event("alice", CLIENT_ID))
    bad = http.post("/events", data=impostor, content_type=SET_TYPE)
    assert bad.status_code == 400 and bad.get_json()["err"] == "invalid_key"
