"""The Kantara Consent Receipt 1.1 view (SPEC.md section 14)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from consent_spec import KantaraFormError, to_kantara
from consent_spec.vectors import valid_vectors

RECORDS = {v.name: v.document for v in valid_vectors() if v.kind == "consent-record"}
GRANTING = [name for name, record in RECORDS.items() if record["granted"]]
DIETARY = "urn:porta:claim:dietary-preference"
# What a caller states about the dietary-preference claim: it may reveal religion or health.
CATEGORIES = {DIETARY: ["Religious or philosophical beliefs", "Health"]}
KANTARA_TOP = {
    "version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID", "language",
    "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat",
}


@pytest.mark.parametrize("name", GRANTING)
def test_required_kantara_fields_and_types(name: str) -> None:
    record = RECORDS[name]
    receipt = to_kantara(record, spi_categories=CATEGORIES)
    assert set(receipt) == KANTARA_TOP
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert type(receipt["consentTimestamp"]) is int
    assert receipt["consentTimestamp"] == int(datetime.fromisoformat(record["decided_at"]).timestamp())
    assert receipt["consentReceiptID"] == record["record_id"]
    assert receipt["piiPrincipalId"] == record["subject"]
    assert receipt["policyUrl"] == record["request"]["relying_party"]["policy_url"]
    controller = receipt["piiControllers"][0]
    assert {"piiController", "contact", "email", "address", "phone"} <= set(controller)
    for service in receipt["services"]:
        assert service["service"] and service["purposes"]
        for purpose in service["purposes"]:
            assert {"purpose", "purposeCategory", "consentType", "piiCategory", "primaryPurpose", "termination", "thirdPartyDisclosure"} <= set(purpose)
            assert purpose["consentType"] in {"EXPLICIT", "IMPLICIT", "CONTRACT", "LEGAL-OBLIGATION", "VITAL-INTERESTS", "PUBLIC-TASK", "LEGITIMATE-INTERESTS"}


@pytest.mark.parametrize("name", GRANTING)
def test_third_party_name_present_exactly_when_disclosed(name: str) -> None:
    for purpose in to_kantara(RECORDS[name], spi_categories=CATEGORIES)["services"][0]["purposes"]:
        assert ("thirdPartyName" in purpose) == purpose["thirdPartyDisclosure"]
        if purpose["thirdPartyDisclosure"]:
            assert purpose["thirdPartyName"]


def test_disclosed_recipient_is_named() -> None:
    purposes = to_kantara(RECORDS["consent-record/given.json"])["services"][0]["purposes"]
    delivery = next(p for p in purposes if p["purposeCategory"] == ["Delivery"])
    assert delivery["thirdPartyDisclosure"] is True
    assert delivery["thirdPartyName"] == "Parcelway Logistics GmbH"
    assert delivery["primaryPurpose"] is True


def test_spi_cat_lists_categories_not_claim_names() -> None:
    """Kantara CR 1.1 spiCat holds sensitive-PI categories; a claim name is not one."""
    everything = to_kantara(RECORDS["consent-record/given-everything.json"], spi_categories=CATEGORIES)
    assert everything["sensitive"] is True
    assert everything["spiCat"] == ["Health", "Religious or philosophical beliefs"]
    assert DIETARY not in everything["spiCat"]
    plain = to_kantara(RECORDS["consent-record/given.json"])
    assert plain["sensitive"] is False
    assert plain["spiCat"] == []


def test_unknown_category_of_a_special_category_claim_is_refused() -> None:
    with pytest.raises(KantaraFormError, match="dietary-preference") as caught:
        to_kantara(RECORDS["consent-record/given-everything.json"])
    assert caught.value.missing == [f"spi_categories[{DIETARY!r}]"]


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


@pytest.mark.parametrize("stamp", ["2026-11-20t09:15:41z", "2026-11-20t10:15:41+01:00", "2026-11-20T09:15:41z"])
def test_lowercase_t_and_z_are_read(stamp: str) -> None:
    """RFC 3339 section 5.6 allows lowercase separators; they were a crash."""
    record: dict[str, Any] = copy.deepcopy(RECORDS["consent-record/given.json"])
    record["decided_at"] = stamp
    expected = to_kantara(RECORDS["consent-record/given.json"])["consentTimestamp"]
    assert to_kantara(record)["consentTimestamp"] == expected


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        (("contact", "phone"), ["request.relying_party.contact.phone"]),
        (("contact", "address"), ["request.relying_party.contact.address"]),
        (("jurisdiction",), ["request.relying_party.jurisdiction"]),
        (("policy_url",), ["request.relying_party.policy_url"]),
    ],
)
def test_missing_required_controller_fields_are_refused_by_name(remove: tuple[str, ...], named: list[str]) -> None:
    record: dict[str, Any] = copy.deepcopy(RECORDS["consent-record/given.json"])
    target = record["request"]["relying_party"]
    for part in remove[:-1]:
        target = target[part]
    del target[remove[-1]]
    with pytest.raises(KantaraFormError, match=named[0].replace(".", r"\.")) as caught:
        to_kantara(record)
    assert caught.value.missing == named


def test_address_and_phone_both_missing_are_both_named() -> None:
    record: dict[str, Any] = copy.deepcopy(RECORDS["consent-record/given.json"])
    contact = record["request"]["relying_party"]["contact"]
    del contact["address"], contact["phone"]
    with pytest.raises(KantaraFormError) as caught:
        to_kantara(record)
    assert caught.value.missing == ["request.relying_party.contact.address", "request.relying_party.contact.phone"]


def test_controller_carries_address_and_phone() -> None:
    controller = to_kantara(RECORDS["consent-record/given.json"])["piiControllers"][0]
    assert controller["phone"] == "+49 30 1234567"
    assert controller["address"] == {"streetAddress": "Lindenstrasse 1", "addressLocality": "Berlin", "postalCode": "10969", "addressCountry": "DE"}


def test_jurisdiction_is_the_relying_partys_then_the_records() -> None:
    record: dict[str, Any] = copy.deepcopy(RECORDS["consent-record/given.json"])
    assert to_kantara(record)["jurisdiction"] == "DE"
    record["request"]["relying_party"]["jurisdiction"] = "FR"
    assert to_kantara(record)["jurisdiction"] == "FR, DE"


def test_contract_based_claims_are_not_explicit_consent() -> None:
    """The address is requested under contract (GDPR Art. 6(1)(b)): the RP does not rely on consent for it."""
    purposes = to_kantara(RECORDS["consent-record/given.json"])["services"][0]["purposes"]
    by_category = {p["purposeCategory"][0]: p["consentType"] for p in purposes}
    assert by_category["Delivery"] == "CONTRACT"
    assert by_category["Core Function"] == "EXPLICIT"
    implicit = to_kantara(RECORDS["consent-record/given-implicit.json"])["services"][0]["purposes"]
    assert {p["consentType"] for p in implicit} == {"IMPLICIT", "CONTRACT"}


def test_a_purpose_shared_by_consent_and_contract_claims_is_split() -> None:
    record: dict[str, Any] = copy.deepcopy(RECORDS["consent-record/given.json"])
    record["request"]["claims"]["address"]["purposes"].append("service-provision")
    record["granted"]["address"]["purposes"].append("service-provision")
    provision = [p for p in to_kantara(record)["services"][0]["purposes"] if p["purpose"] == "To provide the service the person asked for"]
    assert sorted(p["consentType"] for p in provision) == ["CONTRACT", "EXPLICIT"]
