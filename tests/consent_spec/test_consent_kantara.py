"""The Kantara Consent Receipt 1.1 view (SPEC.md section 14)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from consent_spec import to_kantara
from consent_spec.vectors import valid_vectors

RECORDS = {v.name: v.document for v in valid_vectors() if v.kind == "consent-record"}
GRANTING = [name for name, record in RECORDS.items() if record["granted"]]
KANTARA_TOP = {
    "version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID", "language",
    "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat",
}


@pytest.mark.parametrize("name", GRANTING)
def test_required_kantara_fields_and_types(name: str) -> None:
    record = RECORDS[name]
    receipt = to_kantara(record)
    assert set(receipt) == KANTARA_TOP
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert type(receipt["consentTimestamp"]) is int
    assert receipt["consentTimestamp"] == int(datetime.fromisoformat(record["decided_at"]).timestamp())
    assert receipt["consentReceiptID"] == record["record_id"]
    assert receipt["piiPrincipalId"] == record["subject"]
    assert receipt["policyUrl"] == record["request"]["relying_party"]["policy_url"]
    controller = receipt["piiControllers"][0]
    assert {"piiController", "contact", "email"} <= set(controller)
    for service in receipt["services"]:
        assert service["service"] and service["purposes"]
        for purpose in service["purposes"]:
            assert {"purpose", "purposeCategory", "consentType", "piiCategory", "primaryPurpose", "termination", "thirdPartyDisclosure"} <= set(purpose)
            assert purpose["consentType"] in {"EXPLICIT", "IMPLICIT"}


@pytest.mark.parametrize("name", GRANTING)
def test_third_party_name_present_exactly_when_disclosed(name: str) -> None:
    for purpose in to_kantara(RECORDS[name])["services"][0]["purposes"]:
        assert ("thirdPartyName" in purpose) == purpose["thirdPartyDisclosure"]
        if purpose["thirdPartyDisclosure"]:
            assert purpose["thirdPartyName"]


def test_disclosed_recipient_is_named() -> None:
    purposes = to_kantara(RECORDS["consent-record/given.json"])["services"][0]["purposes"]
    delivery = next(p for p in purposes if p["purposeCategory"] == ["Delivery"])
    assert delivery["thirdPartyDisclosure"] is True
    assert delivery["thirdPartyName"] == "Parcelway Logistics GmbH"
    assert delivery["primaryPurpose"] is True


def test_special_category_claims_make_the_receipt_sensitive() -> None:
    everything = to_kantara(RECORDS["consent-record/given-everything.json"])
    assert everything["sensitive"] is True
    assert everything["spiCat"] == ["urn:porta:claim:dietary-preference"]
    plain = to_kantara(RECORDS["consent-record/given.json"])
    assert plain["sensitive"] is False
    assert plain["spiCat"] == []


def test_consent_timestamp_honours_the_offset() -> None:
    record: dict[str, Any] = copy.deepcopy(RECORDS["consent-record/given.json"])
    record["decided_at"] = "2026-11-20T10:15:41+01:00"
    record["recorded_at"] = "2026-11-20T09:15:42Z"
    assert to_kantara(record)["consentTimestamp"] == to_kantara(RECORDS["consent-record/given.json"])["consentTimestamp"]


@pytest.mark.parametrize("name", sorted(set(RECORDS) - set(GRANTING)))
def test_records_that_grant_nothing_have_no_kantara_form(name: str) -> None:
    with pytest.raises(ValueError, match="grants no claim"):
        to_kantara(RECORDS[name])


def test_invalid_record_is_refused() -> None:
    record = dict(RECORDS["consent-record/given.json"], state="paused")
    with pytest.raises(ValueError, match="not a valid consent record"):
        to_kantara(record)
