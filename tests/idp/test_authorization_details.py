"""RFC 9396 authorization_details of the consent type (consent_spec SPEC.md §4.1.1)."""

from __future__ import annotations

import json

import jwt

from tests.conftest import authorize, callback_params, consent, exchange, login

CONSENT_TYPE = "https://porta.example/consent-spec/1.0/authorization-details/consent"


def _details(**claims: dict) -> str:
    return json.dumps([{"type": CONSENT_TYPE, "claims": claims}])


def test_discovery_lists_the_consent_type(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["authorization_details_types_supported"] == [CONSENT_TYPE]


def test_details_add_claims_with_their_purposes_and_come_back_narrowed(http, rp, user):
    details = _details(
        email={"purposes": ["customer-care"], "essential": False},
        phone_number={"purposes": ["delivery-of-goods"], "reason": "The courier calls before delivery."},
    )
    response = login(http, authorize(http, rp, scope="openid", authorization_details=details))
    page = http.get(response.headers["Location"]).get_data(as_text=True)
    assert "for customer care" in page and "to deliver goods" in page
    response = consent(http, response, untick=("phone_number",))
    params = callback_params(response.headers["Location"])
    body = exchange(http, rp, params["code"]).get_json()
    # RFC 9396 §7: the details as granted — the unticked claim is gone.
    assert body["authorization_details"] == [
        {"type": CONSENT_TYPE, "claims": {"email": {"purposes": ["customer-care"], "essential": False}}}
    ]
    record = jwt.decode(body["consent_receipt"], options={"verify_signature": False})["consent_record"]
    assert record["request"]["claims"]["email"]["purposes"] == ["customer-care"]
    assert record["request"]["authorization_details"] == json.loads(details)
    assert set(record["granted"]) == {"email"} and record["refused"] == ["phone_number"]
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    assert info["email"] == "alice@example.org" and "phone_number" not in info


def test_unknown_type_is_invalid_authorization_details(http, rp):
    response = authorize(http, rp, authorization_details=json.dumps([{"type": "payment_initiation"}]), state="t")
    params = callback_params(response.headers["Location"])
    assert params["error"] == "invalid_authorization_details" and params["state"] == "t"


def test_purpose_outside_the_vocabulary_is_refused(http, rp):
    response = authorize(http, rp, authorization_details=_details(email={"purposes": ["selling-your-data"]}))
    params = callback_params(response.headers["Location"])
    assert params["error"] == "invalid_authorization_details"
    assert "purposes" in params["error_description"]


def test_malformed_details_are_refused_not_500(http, rp):
    for raw in ("not json", "{}", "[]", json.dumps([{"type": CONSENT_TYPE}]), json.dumps([{"type": CONSENT_TYPE, "claims": {"shoe size": {"purposes": ["service-provision"]}}}])):
        response = authorize(http, rp, authorization_details=raw)
        assert response.status_code == 302, raw
        assert callback_params(response.headers["Location"])["error"] == "invalid_authorization_details", raw


def test_unknown_claims_in_the_claims_parameter_are_ignored(http, rp, user):
    """OIDC Core §5.5: a claim the OP does not understand is ignored, not an error."""
    claims = json.dumps({"userinfo": {"shoe_size": None, "email": {"essential": True}}})
    response = consent(http, login(http, authorize(http, rp, claims=claims)))
    assert "code" in callback_params(response.headers["Location"])
