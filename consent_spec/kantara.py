"""Render a consent record as a Kantara Initiative Consent Receipt 1.1 document.

Kantara CR 1.1 (2018) predates Porta's model; this view lets a consumer of that
standard read Porta's records. Field mapping: SPEC.md section 14.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .times import parse_date_time
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


_BASIS_TYPE = {
    "contract": "CONTRACT",
    "legal-obligation": "LEGAL-OBLIGATION",
    "vital-interests": "VITAL-INTERESTS",
    "public-task": "PUBLIC-TASK",
    "legitimate-interests": "LEGITIMATE-INTERESTS",
}
"""``consentType`` for purposes the relying party pursues under a legal basis other than
consent (GDPR Art. 6(1)(b)-(f)); SPEC.md section 14."""


class KantaraFormError(ValueError):
    """A record has no faithful Kantara CR 1.1 form; ``missing`` names what it lacks.

    Each entry of ``missing`` is the path, in the record, of a member Kantara
    requires and the record does not hold (``request.relying_party.contact.phone``),
    or a description of a fact the caller must supply.
    """

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)


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


def _missing_controller_fields(relying_party: dict[str, Any]) -> list[str]:
    """Kantara CR 1.1 requires the controller's policy URL, jurisdiction, contact name,
    address, email and phone; return the record paths of those not declared."""
    base = "request.relying_party"
    missing = [f"{base}.{member}" for member in ("policy_url", "jurisdiction", "contact") if member not in relying_party]
    contact = relying_party.get("contact", {})
    if "contact" in relying_party:
        missing += [f"{base}.contact.{member}" for member in ("address", "phone") if member not in contact]
    return missing


def to_kantara(record: dict[str, Any], *, spi_categories: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Return ``record`` as a Kantara Consent Receipt 1.1 JSON document (SPEC.md section 14).

    ``consentTimestamp`` is the integer number of seconds since the epoch of
    ``decided_at`` (lowercase ``t``/``z`` and leap seconds accepted, RFC 3339). Each
    granted (purpose, legal basis) becomes one Kantara purpose: ``consentType`` is
    ``EXPLICIT`` or ``IMPLICIT`` only where the relying party relies on consent, and
    names the legal basis otherwise (``CONTRACT``…); ``thirdPartyName`` is present
    whenever ``thirdPartyDisclosure`` is true. ``jurisdiction`` is the relying party's
    declared jurisdiction, followed by the record's when they differ.

    ``sensitive`` is true when a granted claim has sensitivity ``high`` or
    ``special-category``. ``spiCat`` lists sensitive-PI *categories* (such as
    "Health"), never claim names: the caller gives them per claim in
    ``spi_categories``, since a record states a claim's sensitivity but not its
    category. Every granted special-category claim needs an entry.

    Raises :class:`KantaraFormError` (a ``ValueError``) when ``record`` is not a
    valid consent record, grants nothing (a Kantara receipt documents consent given),
    when the relying party did not declare a field Kantara requires (policy URL,
    jurisdiction, contact with address and phone; ``missing`` lists them), or when
    the category of a granted special-category claim is unknown.
    """
    errors = validate(record, "consent-record")
    if errors:
        raise KantaraFormError("not a valid consent record: " + "; ".join(map(str, errors[:5])))
    if not record["granted"]:
        raise KantaraFormError(f"a record in state {record['state']!r} grants no claim and has no Kantara receipt form")
    request = record["request"]
    relying_party = request["relying_party"]
    missing = _missing_controller_fields(relying_party)
    if missing:
        raise KantaraFormError(
            "Kantara CR 1.1 requires fields this relying party did not declare, and Porta does not invent them: "
            + ", ".join(missing),
            missing,
        )
    categories = dict(spi_categories or {})
    unknown = sorted(
        claim
        for claim in record["granted"]
        if request["claims"][claim]["sensitivity"] == "special-category" and not categories.get(claim)
    )
    if unknown:
        raise KantaraFormError(
            "Kantara spiCat lists sensitive-PI categories; give the category of each granted special-category claim "
            "in spi_categories: " + ", ".join(unknown),
            [f"spi_categories[{claim!r}]" for claim in unknown],
        )

    by_purpose: dict[tuple[str, str], list[str]] = {}
    for claim, grant in record["granted"].items():
        basis = request["claims"][claim].get("legal_basis", request["legal_basis"])
        for purpose in grant["purposes"]:
            by_purpose.setdefault((purpose, basis), []).append(claim)

    purposes = []
    for (purpose, basis), claims in by_purpose.items():
        asks = [request["claims"][claim] for claim in claims]
        recipients = sorted(
            {recipient["name"] for ask in asks if ask["third_party_disclosure"]["disclosed"] for recipient in ask["third_party_disclosure"]["recipients"]}
        )
        entry: dict[str, Any] = {
            "purpose": _PURPOSE_TEXT.get(purpose, purpose),
            "purposeCategory": [_PURPOSE_CATEGORY.get(purpose, purpose)],
            "consentType": record["consent_type"].upper() if basis == "consent" else _BASIS_TYPE[basis],
            "piiCategory": sorted({_pii_category(claim) for claim in claims}),
            "primaryPurpose": any(ask["essential"] for ask in asks),
            "termination": "; ".join(sorted({_termination(ask["retention"]) for ask in asks})),
            "thirdPartyDisclosure": bool(recipients),
        }
        if recipients:
            entry["thirdPartyName"] = ", ".join(recipients)
        purposes.append(entry)

    sensitive_claims = [
        claim for claim in record["granted"] if request["claims"][claim]["sensitivity"] in {"high", "special-category"}
    ]
    spi = sorted({category for claim in sensitive_claims for category in categories.get(claim, ())})
    jurisdictions = [relying_party["jurisdiction"]]
    if record["jurisdiction"] != relying_party["jurisdiction"]:
        jurisdictions.append(record["jurisdiction"])
    decided = parse_date_time(record["decided_at"])
    if decided is None:  # cannot happen after validate(); kept so bad input never crashes
        raise KantaraFormError("decided_at is not an RFC 3339 date-time")
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": ", ".join(jurisdictions),
        "consentTimestamp": int(decided.timestamp()),
        "collectionMethod": _COLLECTION_METHOD[record["collection_method"]],
        "consentReceiptID": record["record_id"],
        "language": record.get("language", request.get("language", "und")),
        "piiPrincipalId": record["subject"],
        "piiControllers": [_controller(relying_party)],
        "policyUrl": relying_party["policy_url"],
        "services": [{"service": relying_party["name"], "purposes": purposes}],
        "sensitive": bool(sensitive_claims),
        "spiCat": spi,
    }
