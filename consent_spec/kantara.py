"""Render a consent record as a Kantara Initiative Consent Receipt 1.1 document.

Kantara CR 1.1 (2018) predates Porta's model; this view lets a consumer of that
standard read Porta's records. Field mapping: SPEC.md section 14.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .validate import validate

KANTARA_VERSION = "KI-CR-v1.1.0"
"""Value of the Kantara ``version`` field."""

_COLLECTION_METHOD = {
    "consent-screen": "Consent screen shown by the OpenID provider during sign-in",
    "dashboard": "The person's consent dashboard at the OpenID provider",
    "api": "Consent API of the OpenID provider, acting on the person's instruction",
    "import": "Imported from a portable profile exported by another provider",
    "provider-policy": "Recorded by the OpenID provider under its published policy",
}

# Purpose category names from the Kantara CR 1.1 purpose category list.
_PURPOSE_CATEGORY = {
    "service-provision": "Core Function",
    "account-management": "Core Function",
    "identity-verification": "Core Function",
    "delivery-of-goods": "Delivery",
    "customer-care": "Contact Requested",
    "personalisation": "Personalized Experience",
    "service-optimisation": "Improve Performance",
    "marketing": "Marketing",
    "advertising": "Marketing",
    "research-and-development": "Improve Performance",
    "fraud-prevention": "Protecting Our Interests",
    "security": "Protecting Our Interests",
    "legal-compliance": "Legally Required Data Retention",
}

_PURPOSE_TEXT = {
    "service-provision": "To provide the service the person asked for",
    "account-management": "To create and manage the person's account",
    "identity-verification": "To verify the person's identity",
    "delivery-of-goods": "To deliver goods the person ordered",
    "customer-care": "To answer the person's requests and complaints",
    "personalisation": "To personalise the service",
    "service-optimisation": "To improve the service",
    "marketing": "To market the relying party's own offers",
    "advertising": "To show advertising",
    "research-and-development": "For research and development",
    "fraud-prevention": "To prevent and detect fraud",
    "security": "To keep the service secure",
    "legal-compliance": "To comply with a legal obligation",
}

# PII categories from the Kantara CR 1.1 PII category list, for OIDC Core 5.1 claims.
_CONTACT = {"email", "email_verified", "phone_number", "phone_number_verified", "address"}

_ADDRESS_FIELDS = {
    "street_address": "streetAddress",
    "locality": "addressLocality",
    "region": "addressRegion",
    "postal_code": "postalCode",
    "country": "addressCountry",
}


def _pii_category(claim: str) -> str:
    if claim in _CONTACT:
        return "Contact"
    if "://" in claim or claim.startswith("urn:"):
        return f"Other: {claim}"
    return "Biographical"


def _termination(retention: dict[str, Any]) -> str:
    origin = {"collection": "collection", "end-of-relationship": "the end of the relationship", "withdrawal": "withdrawal of consent"}
    return f"{retention['duration']} (ISO 8601) after {origin[retention['from']]}"


def _controller(relying_party: dict[str, Any]) -> dict[str, Any]:
    contact = relying_party["contact"]
    controller: dict[str, Any] = {
        "piiController": relying_party["name"],
        "onBehalf": False,
        "contact": contact["name"],
        "email": contact["email"],
    }
    if "address" in contact:
        address = {target: contact["address"][source] for source, target in _ADDRESS_FIELDS.items() if source in contact["address"]}
        if "formatted" in contact["address"] and "streetAddress" not in address:
            address["streetAddress"] = contact["address"]["formatted"]
        controller["address"] = address
    if "phone" in contact:
        controller["phone"] = contact["phone"]
    if "url" in relying_party:
        controller["piiControllerUrl"] = relying_party["url"]
    return controller


def to_kantara(record: dict[str, Any]) -> dict[str, Any]:
    """Return ``record`` as a Kantara Consent Receipt 1.1 JSON document.

    ``consentTimestamp`` is the integer number of seconds since the epoch of
    ``decided_at``; each granted purpose becomes one Kantara purpose, with
    ``thirdPartyName`` present whenever ``thirdPartyDisclosure`` is true; claims of
    sensitivity ``high`` or ``special-category`` make ``sensitive`` true and are listed
    in ``spiCat``.

    Raises ``ValueError`` when ``record`` is not a valid consent record, when the
    relying party declared no policy URL or contact (both required by Kantara), or when it
    grants nothing (a Kantara receipt documents consent given, so refusals and
    withdrawals have no Kantara form).
    """
    errors = validate(record, "consent-record")
    if errors:
        raise ValueError("not a valid consent record: " + "; ".join(map(str, errors[:5])))
    if not record["granted"]:
        raise ValueError(f"a record in state {record['state']!r} grants no claim and has no Kantara receipt form")
    request = record["request"]
    relying_party = request["relying_party"]
    missing = [m for m in ("policy_url", "contact") if m not in relying_party]
    if missing:
        raise ValueError(
            "Kantara CR 1.1 requires the controller's " + " and ".join(missing)
            + ", which this relying party did not declare"
        )
    consent_type = record["consent_type"].upper()

    by_purpose: dict[str, list[str]] = {}
    for claim, grant in record["granted"].items():
        for purpose in grant["purposes"]:
            by_purpose.setdefault(purpose, []).append(claim)

    purposes = []
    for purpose, claims in by_purpose.items():
        asks = [request["claims"][claim] for claim in claims]
        recipients = sorted(
            {recipient["name"] for ask in asks if ask["third_party_disclosure"]["disclosed"] for recipient in ask["third_party_disclosure"]["recipients"]}
        )
        entry: dict[str, Any] = {
            "purpose": _PURPOSE_TEXT.get(purpose, purpose),
            "purposeCategory": [_PURPOSE_CATEGORY.get(purpose, purpose)],
            "consentType": consent_type,
            "piiCategory": sorted({_pii_category(claim) for claim in claims}),
            "primaryPurpose": any(ask["essential"] for ask in asks),
            "termination": "; ".join(sorted({_termination(ask["retention"]) for ask in asks})),
            "thirdPartyDisclosure": bool(recipients),
        }
        if recipients:
            entry["thirdPartyName"] = ", ".join(recipients)
        purposes.append(entry)

    sensitive_claims = sorted(
        claim for claim in record["granted"] if request["claims"][claim]["sensitivity"] in {"high", "special-category"}
    )
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": record["jurisdiction"],
        "consentTimestamp": int(datetime.fromisoformat(record["decided_at"]).timestamp()),
        "collectionMethod": _COLLECTION_METHOD[record["collection_method"]],
        "consentReceiptID": record["record_id"],
        "language": record.get("language", request.get("language", "und")),
        "piiPrincipalId": record["subject"],
        "piiControllers": [_controller(relying_party)],
        "policyUrl": relying_party["policy_url"],
        "services": [{"service": relying_party["name"], "purposes": purposes}],
        "sensitive": bool(sensitive_claims),
        "spiCat": sensitive_claims,
    }
