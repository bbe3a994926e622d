"""Regenerate consent_spec/vectors/ from the documents defined here.

Run from the repository root: ``python tests/consent_spec/build_vectors.py``.
Derived values (ledger hashes, receipt record hashes, signed receipts) are computed
with consent_spec itself; the tests then check them independently. Signing uses a fixed
ES256 key derived from a public seed (so it protects nothing); only its public half is
written, to vectors/receipt/jwks.json.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from consent_spec import GENESIS_HASH, chain_hash, ledger_head, schema_id, sign_receipt  # noqa: E402

OUT = ROOT / "consent_spec" / "vectors"
ISSUER = "https://id.porta.example"
SUB = "pwc-7Yb2rX0qLm4T"
CLIENT = "s6BhdRkqt3"
DIETARY = "urn:porta:claim:dietary-preference"
LOYALTY = "https://books.example.com/claims/loyalty-tier"

RELYING_PARTY = {
    "client_id": CLIENT,
    "name": "Alder & Finch Books",
    "url": "https://books.example.com",
    "policy_url": "https://books.example.com/privacy",
    "jurisdiction": "DE",
    "contact": {
        "name": "Data Protection Office",
        "email": "privacy@books.example.com",
        "phone": "+49 30 1234567",
        "address": {"street_address": "Lindenstrasse 1", "locality": "Berlin", "postal_code": "10969", "country": "DE"},
    },
}

SD_BASE = {"terms_id": "SD-BASE", "version": "1.0", "roster": "https://terms-roster.example.org", "url": "https://terms-roster.example.org/SD-BASE/1.0", "sha256": "3b1f0c4e5d6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"}
PDC_INTENT = {"terms_id": "PDC-INTENT", "version": "1.0", "roster": "https://terms-roster.example.org"}
NO_TRACKING = {"terms_id": "NO-TRACKING", "version": "2.1", "roster": "https://terms-roster.example.org"}

REQUEST = {
    "spec_version": "1.0",
    "request_id": "5f0c9a1e-2b7d-4c3a-9e8f-1a2b3c4d5e6f",
    "created_at": "2026-11-20T09:14:03Z",
    "relying_party": RELYING_PARTY,
    "legal_basis": "consent",
    "language": "en",
    "claims": {
        "email": {
            "essential": True,
            "purposes": ["service-provision", "customer-care"],
            "retention": {"duration": "P2Y", "from": "end-of-relationship"},
            "sensitivity": "moderate",
            "third_party_disclosure": {"disclosed": False},
            "reason": "We send your order confirmations and answer your questions by email.",
        },
        "address": {
            "essential": True,
            "purposes": ["delivery-of-goods"],
            "retention": {"duration": "P90D", "from": "collection"},
            "sensitivity": "moderate",
            "third_party_disclosure": {"disclosed": True, "recipients": [{"name": "Parcelway Logistics GmbH", "url": "https://parcelway.example.net"}]},
            "legal_basis": "contract",
        },
        "birthdate": {
            "essential": False,
            "purposes": ["personalisation", "marketing"],
            "retention": {"duration": "P1Y", "from": "collection"},
            "sensitivity": "low",
            "third_party_disclosure": {"disclosed": False},
        },
        DIETARY: {
            "essential": False,
            "purposes": ["personalisation"],
            "retention": {"duration": "P6M", "from": "collection"},
            "sensitivity": "special-category",
            "third_party_disclosure": {"disclosed": False},
        },
    },
    "accepted_terms": [SD_BASE],
}

IDS = {
    "given": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b01",
    "narrowed": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b02",
    "renewed": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b03",
    "withdrawn": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b04",
    "refused": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b05",
    "expired": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b06",
    "superseded": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b07",
    "invalidated": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b08",
    "full": "0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b09",
}
ALL_CLAIMS = ["email", "address", "birthdate", DIETARY]
NARROWING = "7c1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f5"
WITHDRAWAL = "7c1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f6"


def record(state: str, sequence: int, previous: str, **changes: Any) -> dict[str, Any]:
    base = {
        "$schema": schema_id("consent-record"),
        "spec_version": "1.0",
        "record_id": IDS[state],
        "sequence": sequence,
        "previous_hash": previous,
        "state": state,
        "subject": SUB,
        "request": copy.deepcopy(REQUEST),
        "persona": {"persona_id": "prs-2f9d1c"},
        "granted": {
            "email": {"purposes": ["service-provision", "customer-care"]},
            "address": {"purposes": ["delivery-of-goods"]},
            "birthdate": {"purposes": ["personalisation"]},
        },
        "refused": [DIETARY],
        "collection_method": "consent-screen",
        "consent_type": "explicit",
        "jurisdiction": "DE",
        "language": "en",
        "decided_at": "2026-11-20T09:15:41Z",
        "recorded_at": "2026-11-20T09:15:41.250Z",
        "expires_at": "2027-11-20T09:15:41Z",
        "accepted_terms": [SD_BASE],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def build_ledger() -> list[dict[str, Any]]:
    entries = []
    head = GENESIS_HASH
    steps = [
        ("given", {}),
        ("narrowed", {"replaces": IDS["given"], "withdrawal_id": NARROWING, "collection_method": "dashboard",
                      "granted": {"email": {"purposes": ["service-provision"]}, "address": {"purposes": ["delivery-of-goods"]}},
                      "refused": ["birthdate", DIETARY], "decided_at": "2026-12-02T18:40:00Z", "recorded_at": "2026-12-02T18:40:00Z"}),
        ("renewed", {"replaces": IDS["narrowed"], "granted": {"email": {"purposes": ["service-provision"]}, "address": {"purposes": ["delivery-of-goods"]}},
                     "refused": ["birthdate", DIETARY], "decided_at": "2027-11-18T08:00:00Z", "recorded_at": "2027-11-18T08:00:01Z", "expires_at": "2028-11-18T08:00:00Z"}),
        ("withdrawn", {"replaces": IDS["renewed"], "withdrawal_id": WITHDRAWAL, "collection_method": "dashboard", "persona": None, "granted": {},
                       "refused": ["email", "address", "birthdate", DIETARY], "decided_at": "2028-01-05T12:00:00Z", "recorded_at": "2028-01-05T12:00:00Z", "expires_at": None}),
    ]
    for sequence, (state, changes) in enumerate(steps):
        entry = record(state, sequence, head, **changes)
        entries.append(entry)
        head = chain_hash(entry, head)
    return entries


def write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")


def main() -> None:
    for sub in ("valid", "invalid", "receipt", "ledger"):
        shutil.rmtree(OUT / sub, ignore_errors=True)
    ledger = build_ledger()
    given, narrowed, renewed, withdrawn = ledger
    # A fixed, publicly derivable key: it exists only to sign test vectors, and keeping
    # it fixed keeps vectors/receipt/jwks.json stable across regenerations.
    key = ec.derive_private_key(int.from_bytes(hashlib.sha256(b"porta consent-spec 1.0 test vector key").digest(), "big"), ec.SECP256R1())
    kid = "porta-vectors-2026-11"
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public_jwk.update({"kid": kid, "use": "sig", "alg": "ES256"})
    jwks = {"keys": [public_jwk]}

    def receipt_claims(rec: dict[str, Any], jti: str, iat: int) -> dict[str, Any]:
        return {"iss": ISSUER, "sub": SUB, "aud": [CLIENT, ISSUER], "iat": iat, "jti": jti, "spec_version": "1.0",
                "consent_record": rec, "record_hash": chain_hash(rec, rec["previous_hash"])}

    claims_given = receipt_claims(given, "rcpt-3e8c1a90", 1795166141)
    receipt_given = sign_receipt(claims_given, key, kid)

    valid: dict[str, Any] = {}
    request = {"$schema": schema_id("consent-request"), **copy.deepcopy(REQUEST)}
    valid["consent-request/bookshop-four-claims.json"] = request
    minimal = {"spec_version": "1.0", "request_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "created_at": "2026-11-21T10:00:00+01:00",
               "relying_party": {"client_id": "news-app", "name": "Morning Ledger", "policy_url": "https://news.example.org/privacy", "jurisdiction": "US-CA",
                                 "contact": {"name": "Privacy team", "email": "privacy@news.example.org"}},
               "legal_basis": "legitimate-interests",
               "claims": {"name": {"essential": False, "purposes": ["personalisation"], "retention": {"duration": "P30D", "from": "withdrawal"}, "sensitivity": "low",
                                   "third_party_disclosure": {"disclosed": False}}}}
    valid["consent-request/minimal-no-schema-member.json"] = minimal
    rfc9396 = {**copy.deepcopy(request), "request_id": "4e3d2c1b-0a9f-4e8d-9c7b-6a5f4e3d2c1b",
               "authorization_details": [{"type": "https://books.example.com/order-history", "actions": ["read"], "locations": ["https://api.books.example.com"], "max_orders": 20}],
               "extensions": {"https://books.example.com/ext/campaign": {"code": "WINTER26"}}}
    valid["consent-request/with-authorization-details.json"] = rfc9396
    valid["consent-record/given.json"] = given
    valid["consent-record/narrowed.json"] = narrowed
    valid["consent-record/renewed.json"] = renewed
    valid["consent-record/withdrawn.json"] = withdrawn
    valid["consent-record/refused.json"] = record("refused", 4, chain_hash(withdrawn, withdrawn["previous_hash"]), persona=None, granted={},
                                                  refused=["email", "address", "birthdate", DIETARY], expires_at=None)
    valid["consent-record/expired.json"] = record("expired", 7, "a" * 64, replaces=IDS["renewed"], persona=None, granted={}, refused=ALL_CLAIMS,
                                                  collection_method="provider-policy", decided_at="2028-11-18T08:00:00Z", recorded_at="2028-11-18T08:00:02Z", expires_at=None)
    valid["consent-record/superseded.json"] = record("superseded", 9, "b" * 64, replaces=IDS["given"], persona=None, granted={}, refused=ALL_CLAIMS,
                                                     collection_method="provider-policy", decided_at="2026-11-25T00:00:00Z", recorded_at="2026-11-25T00:00:00Z", expires_at=None)
    valid["consent-record/invalidated.json"] = record("invalidated", 12, "c" * 64, replaces=IDS["given"], persona=None, granted={}, refused=ALL_CLAIMS,
                                                      collection_method="provider-policy", decided_at="2026-11-22T00:00:00Z", recorded_at="2026-11-22T00:00:00Z", expires_at=None,
                                                      extensions={"https://id.porta.example/ext/invalidation": {"reason": "identity fraud confirmed"}})
    full = record("given", 0, GENESIS_HASH, record_id=IDS["full"], language="de",
                  granted={"email": {"purposes": ["service-provision", "customer-care"]}, "address": {"purposes": ["delivery-of-goods"]},
                           "birthdate": {"purposes": ["personalisation", "marketing"]}, DIETARY: {"purposes": ["personalisation"]}}, refused=[])
    valid["consent-record/given-everything.json"] = full
    valid["consent-record/given-implicit.json"] = record("given", 0, GENESIS_HASH, record_id="0d6a4b52-8a61-4f4e-b0f4-5a7a0a1c2b0a", consent_type="implicit",
                                                         collection_method="api", language=None, accepted_terms=None, expires_at=None)
    valid["consent-receipt/given-receipt-claims.json"] = claims_given
    valid["consent-receipt/withdrawn-receipt-claims.json"] = {**receipt_claims(withdrawn, "rcpt-77d0e2b4", 1830686400), "aud": CLIENT}
    valid["withdrawal/narrow.json"] = {"$schema": schema_id("withdrawal"), "spec_version": "1.0", "withdrawal_id": NARROWING, "record_id": IDS["given"],
                                       "client_id": CLIENT, "subject": SUB, "action": "narrow",
                                       "removes": {"claims": ["birthdate"], "purposes": {"email": ["customer-care"]}},
                                       "initiated_by": "person", "requested_at": "2026-12-02T18:40:00Z", "effective_at": "2026-12-02T18:40:00Z"}
    valid["withdrawal/withdraw.json"] = {"$schema": schema_id("withdrawal"), "spec_version": "1.0", "withdrawal_id": WITHDRAWAL, "record_id": IDS["renewed"],
                                         "client_id": CLIENT, "subject": SUB, "action": "withdraw", "initiated_by": "person",
                                         "requested_at": "2028-01-05T12:00:00Z", "effective_at": "2028-01-05T12:00:00Z", "reason": "I closed my account."}
    valid["withdrawal/provider-withdraw-later.json"] = {"spec_version": "1.0", "withdrawal_id": "7c1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f7", "record_id": IDS["given"],
                                                        "client_id": CLIENT, "subject": SUB, "action": "withdraw", "initiated_by": "provider",
                                                        "requested_at": "2026-12-01T00:00:00Z", "effective_at": "2026-12-01T00:05:00+00:00"}
    terms_base = {"$schema": schema_id("person-terms"), "spec_version": "1.0", "subject": SUB, "client_id": CLIENT,
                  "proffered": [SD_BASE, PDC_INTENT], "proffered_at": "2026-11-20T09:14:00Z"}
    valid["person-terms/accepted.json"] = {**terms_base, "proffer_id": "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f1",
                                           "response": {"decision": "accept", "accepted": SD_BASE, "responded_at": "2026-11-20T09:14:02Z"}}
    valid["person-terms/alternative.json"] = {**terms_base, "proffer_id": "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f2",
                                              "response": {"decision": "alternative", "alternative": NO_TRACKING, "responded_at": "2026-11-20T09:14:02Z"}}
    valid["person-terms/refused.json"] = {**terms_base, "proffer_id": "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f3",
                                          "response": {"decision": "refuse", "responded_at": "2026-11-20T09:14:02Z"}}
    valid["person-terms/proffer-only.json"] = {**terms_base, "proffer_id": "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f4", "proffered": [PDC_INTENT]}
    catalogue = {"$schema": schema_id("claims-catalogue"), "spec_version": "1.0", "issuer": ISSUER, "claims": {
        "email": {"display_name": {"en": "Email address", "de": "E-Mail-Adresse"}, "type": "string", "format": "email", "sensitivity": "moderate", "source": "oidc-core", "verifiable": True},
        "address": {"display_name": {"en": "Postal address"}, "type": "object", "sensitivity": "moderate", "source": "oidc-core"},
        "birthdate": {"display_name": {"en": "Date of birth"}, "type": "string", "format": "date", "sensitivity": "low", "source": "oidc-core"},
        "phone_number": {"display_name": {"en": "Phone number"}, "type": "string", "format": "phone-e164", "sensitivity": "moderate", "source": "oidc-core"},
        DIETARY: {"display_name": {"en": "Dietary preference"}, "description": {"en": "Vegetarian, halal, kosher... can reveal religion or health."},
                  "type": "string", "sensitivity": "special-category", "source": "custom"},
        LOYALTY: {"display_name": {"en": "Loyalty tier"}, "type": "integer", "sensitivity": "low", "source": "custom"},
    }}
    valid["claims-catalogue/porta-default.json"] = catalogue
    valid["claims-catalogue/single-claim.json"] = {"spec_version": "1.0", "issuer": "https://op.example.net",
                                                    "claims": {"name": {"display_name": {"en": "Full name"}, "type": "string", "sensitivity": "low", "source": "oidc-core"}}}
    profile = {"$schema": schema_id("portable-profile"), "spec_version": "1.0", "export_id": "c0ffee00-1234-4abc-8def-0123456789ab",
               "exported_at": "2028-02-01T10:00:00Z", "exporter": {"issuer": ISSUER, "software": "Porta 0.1.0"},
               "profile": {"name": "Ada Example", "given_name": "Ada", "family_name": "Example", "email": "ada@mail.example", "email_verified": True,
                           "birthdate": "1990-04-01", "locale": "en-GB", "zoneinfo": "Europe/Berlin", "updated_at": 1795166000,
                           "address": {"street_address": "Hauptstrasse 5", "locality": "Berlin", "postal_code": "10827", "country": "DE"}, DIETARY: "vegetarian"},
               "personas": [{"persona_id": "prs-2f9d1c", "label": "Shopping", "claims": {"email": "ada.shop@mail.example", "email_verified": False}},
                            {"persona_id": "prs-8a0b3e", "label": "Work", "claims": {"name": "Ada Example", "email": "ada@work.example", "phone_number": "+4930987654"}}],
               "ledger": ledger, "ledger_head": ledger_head(ledger), "receipts": [receipt_given],
               "terms": [valid["person-terms/accepted.json"]], "catalogue": catalogue}
    valid["portable-profile/full-export.json"] = profile
    valid["portable-profile/empty-account.json"] = {"spec_version": "1.0", "export_id": "c0ffee00-1234-4abc-8def-0123456789ac", "exported_at": "2026-11-23T00:00:00Z",
                                                    "exporter": {"issuer": "https://op.example.net"}, "profile": {}, "personas": [], "ledger": [],
                                                    "ledger_head": GENESIS_HASH, "receipts": [], "terms": []}
    event_base = {"iss": ISSUER, "iat": 1830686401, "jti": "set-5b1d9e", "aud": CLIENT, "sub": SUB, "toe": 1830686400}
    uri = "https://porta.example/consent-spec/1.0/event/"
    valid["consent-event/withdrawn.json"] = {**event_base, "txn": "txn-0042", "events": {uri + "consent-withdrawn": {
        "record_id": IDS["renewed"], "new_record_id": IDS["withdrawn"], "claims": ["email", "address"]}}}
    valid["consent-event/narrowed.json"] = {**event_base, "jti": "set-5b1d9f", "events": {uri + "consent-narrowed": {
        "record_id": IDS["given"], "new_record_id": IDS["narrowed"], "removed_claims": ["birthdate"], "removed_purposes": {"email": ["customer-care"]}, "receipt": receipt_given}}}
    valid["consent-event/expired.json"] = {**event_base, "jti": "set-5b1da0", "aud": [CLIENT], "events": {uri + "consent-expired": {
        "record_id": IDS["renewed"], "new_record_id": IDS["expired"], "expired_at": "2028-11-18T08:00:00Z"}}}
    for name, document in valid.items():
        write(OUT / "valid" / name, document)

    invalid: dict[str, tuple[Any, str, str, str]] = {}

    def bad(name: str, document: Any, rule: str, path: str, description: str) -> None:
        invalid[name] = (document, rule, path, description)

    def changed(document: Any, mutate: Any) -> Any:
        document = json.loads(json.dumps(document))
        mutate(document)
        return document

    bad("consent-request/missing-relying-party.json", changed(request, lambda d: d.pop("relying_party")), "required", "$", "relying_party is required")
    bad("consent-request/capitalised-claim-name.json", changed(request, lambda d: d["claims"].__setitem__("Email", d["claims"].pop("email"))),
        "propertyNames", "$.claims", "claim names are OIDC standard names or absolute https/urn URIs")
    bad("consent-request/unknown-purpose.json", changed(request, lambda d: d["claims"]["email"]["purposes"].__setitem__(0, "profiling")),
        "anyOf", "$.claims.email.purposes[0]", "purposes come from the vocabulary or are absolute URIs")
    bad("consent-request/disclosed-without-recipients.json", changed(request, lambda d: d["claims"]["address"]["third_party_disclosure"].pop("recipients")),
        "required", "$.claims.address.third_party_disclosure", "a disclosed claim names its recipients")
    bad("consent-request/recipients-without-disclosure.json",
        changed(request, lambda d: d["claims"]["email"]["third_party_disclosure"].__setitem__("recipients", [{"name": "Someone"}])),
        "not", "$.claims.email.third_party_disclosure", "recipients only when disclosed is true")
    bad("consent-request/http-policy-url.json", changed(request, lambda d: d["relying_party"].__setitem__("policy_url", "http://books.example.com/privacy")),
        "pattern", "$.relying_party.policy_url", "policy_url is an https URL")
    bad("consent-request/extension-not-uri.json", changed(request, lambda d: d.__setitem__("extensions", {"campaign": "WINTER26"})),
        "propertyNames", "$.extensions", "extension members are named by https URIs")
    bad("consent-request/unknown-member.json", changed(request, lambda d: d.__setitem__("tracking", True)),
        "additionalProperties", "$", "members outside the schema are not allowed")
    bad("consent-request/retention-not-iso8601.json", changed(request, lambda d: d["claims"]["email"]["retention"].__setitem__("duration", "2 years")),
        "format", "$.claims.email.retention.duration", "retention duration is an ISO 8601 duration")
    bad("consent-request/no-claims.json", changed(request, lambda d: d.__setitem__("claims", {})), "minProperties", "$.claims", "a request asks for at least one claim")
    bad("consent-request/sub-requested.json", changed(request, lambda d: d["claims"].__setitem__("sub", d["claims"]["email"])),
        "propertyNames", "$.claims", "'sub' is always released and is not subject to consent")
    bad("consent-record/unknown-state.json", changed(given, lambda d: d.__setitem__("state", "paused")), "enum", "$.state", "state is one of the eight lifecycle states")
    bad("consent-record/renewed-without-replaces.json", changed(renewed, lambda d: d.pop("replaces")), "required", "$", "a renewed record names the record it replaces")
    bad("consent-record/withdrawn-grants-claims.json", changed(withdrawn, lambda d: d.__setitem__("granted", {"email": {"purposes": ["service-provision"]}})),
        "maxProperties", "$.granted", "a withdrawn record grants nothing")
    bad("consent-record/given-without-persona.json", changed(given, lambda d: d.pop("persona")), "required", "$", "a record under which claims flow names the persona")
    bad("consent-record/timestamp-not-rfc3339.json", changed(given, lambda d: d.__setitem__("decided_at", "20/11/2026 09:15")),
        "format", "$.decided_at", "timestamps are RFC 3339 date-times")
    bad("consent-record/granted-not-requested.json", changed(given, lambda d: d["granted"].__setitem__("phone_number", {"purposes": ["customer-care"]})),
        "record-claims-requested", "$.granted.phone_number", "only requested claims can be granted")
    bad("consent-record/purpose-not-requested.json", changed(given, lambda d: d["granted"]["address"]["purposes"].append("marketing")),
        "record-purposes-requested", "$.granted.address.purposes[1]", "a claim is granted only for purposes requested for it")
    bad("consent-record/granted-and-refused.json", changed(given, lambda d: d["refused"].append("birthdate")),
        "record-granted-refused-disjoint", "$.refused[1]", "a claim cannot be both granted and refused")
    bad("consent-record/essential-refused.json", changed(given, lambda d: (d["granted"].pop("address"), d["refused"].append("address"))),
        "record-essential-granted", "$.granted", "a given record grants every essential claim")
    bad("consent-record/undecided-claim.json", changed(given, lambda d: d.__setitem__("refused", [])),
        "record-claims-decided", "$.refused", "a given record decides every requested claim")
    bad("consent-record/expires-before-decided.json", changed(given, lambda d: d.__setitem__("expires_at", "2026-11-19T00:00:00Z")),
        "record-time-order", "$.expires_at", "expires_at is later than decided_at")
    bad("consent-record/implicit-special-category.json", changed(full, lambda d: d.__setitem__("consent_type", "implicit")),
        "record-explicit-special-category", "$.consent_type", "special-category claims need explicit consent (GDPR Art. 9(2)(a))")
    bad("consent-record/withdrawn-refused-empty.json", changed(withdrawn, lambda d: d.__setitem__("refused", [])),
        "record-claims-decided", "$.refused", "a withdrawn record releases nothing, so refused lists every requested claim")
    bad("consent-record/narrowed-refused-incomplete.json", changed(narrowed, lambda d: d.__setitem__("refused", [DIETARY])),
        "record-claims-decided", "$.refused", "refused lists every requested claim a narrowed record no longer grants")
    bad("consent-record/uppercase-previous-hash.json", changed(narrowed, lambda d: d.__setitem__("previous_hash", d["previous_hash"].upper())),
        "pattern", "$.previous_hash", "hashes are lowercase hexadecimal")
    bad("consent-record/first-entry-not-genesis.json", changed(given, lambda d: d.__setitem__("previous_hash", "f" * 64)),
        "ledger-hash-link", "$.previous_hash", "entry 0 chains to 64 zeros")
    bad("consent-receipt/subject-mismatch.json", changed(claims_given, lambda d: d.__setitem__("sub", "someone-else")),
        "receipt-subject", "$.sub", "sub equals the record's subject")
    bad("consent-receipt/wrong-record-hash.json", changed(claims_given, lambda d: d.__setitem__("record_hash", "0" * 63 + "1")),
        "receipt-record-hash", "$.record_hash", "record_hash is chain_hash of the record")
    bad("consent-receipt/iat-as-string.json", changed(claims_given, lambda d: d.__setitem__("iat", "1795166141")), "type", "$.iat", "iat is a NumericDate")
    bad("consent-receipt/audience-without-client.json", changed(claims_given, lambda d: d.__setitem__("aud", ISSUER)),
        "receipt-audience", "$.aud", "aud includes the relying party's client_id")
    bad("withdrawal/narrow-without-removes.json", changed(valid["withdrawal/narrow.json"], lambda d: d.pop("removes")),
        "required", "$", "a narrowing says what it removes")
    bad("withdrawal/withdraw-with-removes.json", changed(valid["withdrawal/withdraw.json"], lambda d: d.__setitem__("removes", {"claims": ["email"]})),
        "not", "$", "a withdrawal removes everything and lists nothing")
    bad("withdrawal/effective-before-requested.json", changed(valid["withdrawal/withdraw.json"], lambda d: d.__setitem__("effective_at", "2028-01-04T12:00:00Z")),
        "withdrawal-time-order", "$.effective_at", "a withdrawal cannot take effect in the past")
    bad("person-terms/accepted-not-proffered.json", changed(valid["person-terms/accepted.json"], lambda d: d["response"].__setitem__("accepted", NO_TRACKING)),
        "terms-accept-proffered", "$.response.accepted", "the relying party accepts one of the proffered agreements")
    bad("person-terms/accept-with-alternative.json", changed(valid["person-terms/accepted.json"], lambda d: d["response"].__setitem__("alternative", NO_TRACKING)),
        "not", "$.response", "an acceptance offers no alternative")
    bad("person-terms/lowercase-terms-id.json", changed(valid["person-terms/accepted.json"], lambda d: d["proffered"][0].__setitem__("terms_id", "sd-base")),
        "pattern", "$.proffered[0].terms_id", "terms identifiers are upper-case tokens")
    bad("claims-catalogue/standard-claim-marked-custom.json", changed(catalogue, lambda d: d["claims"]["email"].__setitem__("source", "custom")),
        "catalogue-source", "$.claims.email.source", "OIDC standard claims have source oidc-core")
    bad("claims-catalogue/unknown-sensitivity.json", changed(catalogue, lambda d: d["claims"][LOYALTY].__setitem__("sensitivity", "secret")),
        "enum", f"$['{LOYALTY}'].sensitivity".replace("$[", "$.claims["), "sensitivity is one of four levels")
    bad("portable-profile/broken-chain.json", changed(profile, lambda d: d["ledger"][1]["granted"]["email"]["purposes"].append("customer-care")),
        "ledger-hash-link", "$.ledger[2].previous_hash", "editing an entry breaks the hash link of the next one")
    bad("portable-profile/wrong-ledger-head.json", changed(profile, lambda d: d.__setitem__("ledger_head", GENESIS_HASH)),
        "profile-ledger-head", "$.ledger_head", "ledger_head is the hash of the last entry")
    bad("portable-profile/illegal-transition.json",
        changed(profile, lambda d: d.__setitem__("ledger", _rechain([d["ledger"][0], {**d["ledger"][3], "replaces": IDS["given"]}, {**d["ledger"][2], "replaces": IDS["withdrawn"]}]))),
        "lifecycle-transition", "$.ledger[2].state", "nothing follows a withdrawn record")
    bad("portable-profile/email-verified-string.json", changed(profile, lambda d: d["profile"].__setitem__("email_verified", "true")),
        "type", "$.profile.email_verified", "standard claim values have their OIDC Core types")
    bad("consent-event/two-events.json", changed(valid["consent-event/withdrawn.json"], lambda d: d["events"].update(valid["consent-event/expired.json"]["events"])),
        "maxProperties", "$.events", "one logical event per SET (RFC 8417 section 2.2)")
    bad("consent-event/unknown-event-type.json",
        changed(valid["consent-event/expired.json"], lambda d: d.__setitem__("events", {"https://porta.example/consent-spec/1.0/event/consent-paused": {"record_id": IDS["given"], "new_record_id": IDS["renewed"]}})),
        "additionalProperties", "$.events", "only the three consent event types are defined")
    bad("consent-event/withdrawn-without-claims.json", changed(valid["consent-event/withdrawn.json"], lambda d: d["events"][uri + "consent-withdrawn"].pop("claims")),
        "required", f"$.events['{uri}consent-withdrawn']", "a withdrawal event lists the claims no longer released")
    bad("consent-event/missing-toe.json", changed(valid["consent-event/withdrawn.json"], lambda d: d.pop("toe")), "required", "$", "toe says when the change took effect")

    manifest = {}
    for name, (document, rule, path, description) in invalid.items():
        write(OUT / "invalid" / name, document)
        manifest[name] = {"rule": rule, "path": path, "description": description}
    write(OUT / "invalid" / "manifest.json", manifest)

    write_lineage_vectors(given, withdrawn, minimal)
    unicode_record = write_jcs_vectors()

    # Ledger chain vector.
    hashes = []
    head = GENESIS_HASH
    for entry in ledger:
        head = chain_hash(entry, head)
        hashes.append(head)
    write(OUT / "ledger" / "bookshop-lineage.json", {
        "description": "Four entries of one consent lineage: given, narrowed, renewed, withdrawn. expected_hashes[i] = SHA-256(ASCII(previous hash) || JCS(entries[i])), hex.",
        "genesis": GENESIS_HASH, "entries": ledger, "expected_hashes": hashes, "head": head})

    # Receipt vectors: one good receipt, and receipts every verifier must reject.
    folder = OUT / "receipt"
    write(folder / "jwks.json", jwks)
    other = ec.generate_private_key(ec.SECP256R1())
    good_header, good_payload, good_sig = receipt_given.split(".")
    tampered_claims = changed(claims_given, lambda d: d["consent_record"]["granted"]["birthdate"]["purposes"].append("marketing"))
    tampered_payload = jwt.utils.base64url_encode(json.dumps(tampered_claims, separators=(",", ":")).encode()).decode()
    none_header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "consent-receipt+jwt", "kid": kid}).encode()).decode()
    receipts = {
        "given.jwt": (receipt_given, True, None, "valid ES256 receipt for the 'given' record"),
        "wrong-key.jwt": (jwt.encode(claims_given, other, algorithm="ES256", headers={"typ": "consent-receipt+jwt", "kid": kid}), False, "signature", "signed by a key not in the JWKS, under the JWKS key's kid"),
        "wrong-typ.jwt": (jwt.encode(claims_given, key, algorithm="ES256", headers={"typ": "JWT", "kid": kid}), False, "typ", "typ is JWT, not consent-receipt+jwt"),
        "alg-none.jwt": (f"{none_header}.{good_payload}.", False, "alg", "unsigned (alg none)"),
        "tampered-payload.jwt": (f"{good_header}.{tampered_payload}.{good_sig}", False, "signature", "payload changed after signing"),
        "unknown-kid.jwt": (jwt.encode(claims_given, key, algorithm="ES256", headers={"typ": "consent-receipt+jwt", "kid": "retired-key"}), False, "key", "kid not in the JWKS"),
        "invalid-claims.jwt": (jwt.encode(changed(claims_given, lambda d: d.pop("record_hash")), key, algorithm="ES256",
                                          headers={"typ": "consent-receipt+jwt", "kid": kid}), False, "schema", "well signed, but the claims lack record_hash"),
    }
    # EdDSA (RFC 8037) signatures are deterministic, so this receipt is stable across
    # regenerations; its record holds non-ASCII text and keys outside the BMP (JCS).
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"porta consent-spec test vector ed25519 key").digest())
    ed_kid = "porta-vectors-ed25519"
    ed_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key(), as_dict=True)
    jwks["keys"].append({**ed_jwk, "kid": ed_kid, "use": "sig", "alg": "EdDSA"})
    write(folder / "jwks.json", jwks)
    receipts["given-eddsa-non-ascii.jwt"] = (
        sign_receipt(receipt_claims(unicode_record, "rcpt-eddsa-01", 1795166141), ed_key, ed_kid, "EdDSA"), True, None,
        "valid EdDSA (Ed25519) receipt for a 'given' record with non-ASCII text and non-BMP member names",
    )
    entries = []
    for name, (token, ok, reason, description) in receipts.items():
        (folder / name).write_text(token + "\n", "ascii")
        entries.append({"file": name, "valid": ok, "reason": reason, "description": description})
    write(folder / "manifest.json", {"issuer": ISSUER, "jwks": "jwks.json", "receipts": entries})


NEWS_SUB = "pwc-Q3n8vK1sZd0R"

# RFC 8785 cases whose canonical form is written out by hand from the RFC's rules
# (section 3.2.2.3: ECMAScript number serialization; 3.2.2.2: strings, non-ASCII
# left as is; 3.2.3: members sorted by UTF-16 code units), then checked against
# the rfc8785 package when the vectors are built.
JCS_CASES: list[tuple[str, str, str, str, bool]] = [
    ("numbers-ecmascript", "3.2.2.3",
     "[1.0, -0.0, 1e-7, 0.000001, 1e20, 1e21, 123e-2, -1E+3, 2e-3, 5e-324, 1.7976931348623157e308, 333333333.33333329, 9007199254740991, 0.1, 100]",
     "[1,0,1e-7,0.000001,100000000000000000000,1e+21,1.23,-1000,0.002,5e-324,1.7976931348623157e+308,333333333.3333333,9007199254740991,0.1,100]",
     True),
    ("member-order-utf16", "3.2.3",
     '{"z":1,"\\u20ac":2,"\\ufb00":3,"\\ud83d\\ude00":4,"\\u00e9":5,"A":6,"a":7}',
     '{"A":6,"a":7,"z":1,"\u00e9":5,"\u20ac":2,"\U0001f600":4,"\ufb00":3}',
     True),
    ("strings-non-ascii-and-escapes", "3.2.2.2",
     '["\\u00e9\\u0301 caf\u00e9", "\\/path", "\\u0001\\u001f\\u007f", "tab\\there", "\\u2028", "quote\\"back\\\\slash", "\\ud83d\\ude00", "\\b\\f\\n\\r"]',
     '["\u00e9\u0301 caf\u00e9","/path","\\u0001\\u001f\u007f","tab\\there","\u2028","quote\\"back\\\\slash","\U0001f600","\\b\\f\\n\\r"]',
     False),
    ("nested-mixed", "3.2.2.3, 3.2.3",
     '{"b":[{"\\u00f6":1.50,"o":-0}],"a":{"\\ud800\\udc00":"\\ud800\\udc00 is U+10000","\\uff5e":true}}',
     '{"a":{"\U00010000":"\U00010000 is U+10000","\uff5e":true},"b":[{"o":0,"\u00f6":1.5}]}',
     True),
]


def _naive(value: Any) -> str:
    """What a program might do instead of JCS: sorted keys, compact, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_jcs_vectors() -> dict[str, Any]:
    """vectors/jcs/cases.json and a ledger whose hashes naive serialization gets wrong."""
    cases = []
    for name, section, text, canonical, naive_differs in JCS_CASES:
        value = json.loads(text)
        assert rfc8785.dumps(value).decode("utf-8") == canonical, name
        assert (_naive(value) != canonical) == naive_differs, name
        cases.append({"name": name, "rfc8785_section": section, "input": text, "canonical": canonical,
                      "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(), "compact_sorted_json_differs": naive_differs})
    write(OUT / "jcs" / "cases.json", {
        "description": "RFC 8785 cases: parse 'input' (JSON text), canonicalize, and compare with 'canonical' (UTF-8) and its 'sha256'. "
                       "compact_sorted_json_differs says whether JSON with sorted keys, no whitespace and unescaped UTF-8 would differ.",
        "cases": cases})
    request = copy.deepcopy(REQUEST)
    request["relying_party"] = {**request["relying_party"], "name": "\u00c6r\u00f8 B\u00f8ger & Caf\u00e9 \U0001f4da"}
    request["claims"]["email"]["reason"] = "Bestellbest\u00e4tigungen per E-Mail \u2709\ufe0f, \u6ce8\u6587\u306e\u78ba\u8a8d \U0001f600"
    entry = record("given", 0, GENESIS_HASH, record_id=_uuid(90), request=request, language="da",
                   extensions={"https://books.example.com/ext/labels": {"z": "ascii", "\u00e9": "e-acute", "\u20ac": "euro",
                                                                         "\U0001f600": "emoji", "\ufb00": "ligature"}})
    entry_hash = chain_hash(entry, GENESIS_HASH)
    assert hashlib.sha256(GENESIS_HASH.encode() + _naive(entry).encode("utf-8")).hexdigest() != entry_hash
    write(OUT / "ledger" / "valid" / "non-ascii-record.json", {
        "description": "One record with non-ASCII text and extension member names outside the BMP: JCS sorts them by UTF-16 code units "
                       "(U+1F600 before U+FB00), so sorting by code point, as json.dumps(sort_keys=True) does, gives another hash.",
        "genesis": GENESIS_HASH, "entries": [entry], "expected_hashes": [entry_hash], "head": entry_hash})
    return entry


def _uuid(number: int) -> str:
    return f"1a2b3c4d-5e6f-4a7b-8c9d-{number:012x}"


def write_lineage_vectors(given: dict[str, Any], withdrawn: dict[str, Any], news_request: dict[str, Any]) -> None:
    """Ledgers that obey or break one lineage rule each (SPEC.md section 6.3).

    Every entry is a valid consent record and the hash chain is intact, so the
    only fault of an invalid ledger is the lineage rule its manifest names.
    """
    given = {**given, "expires_at": "2027-11-20T09:15:41Z"}
    no_expiry = record("given", 0, GENESIS_HASH, expires_at=None)

    def follow(before: dict[str, Any], state: str, number: int, **changes: Any) -> dict[str, Any]:
        ending = state in {"withdrawn", "expired", "superseded", "invalidated", "refused"}
        base: dict[str, Any] = {"replaces": before["record_id"], "record_id": _uuid(number), "decided_at": "2026-12-02T18:40:00Z",
                                "recorded_at": "2026-12-02T18:40:00Z", "collection_method": "dashboard"}
        if ending:
            base.update(persona=None, granted={}, refused=ALL_CLAIMS, expires_at=None)
        if state in {"withdrawn", "narrowed"}:
            base["withdrawal_id"] = _uuid(1000 + number)
        if state in {"expired", "invalidated", "superseded"}:
            base["collection_method"] = "provider-policy"
        base.update(changes)
        return {**record(state, 0, GENESIS_HASH, **base)}

    news = record("given", 0, GENESIS_HASH, record_id=_uuid(50), subject=NEWS_SUB, request=copy.deepcopy(news_request),
                  persona={"persona_id": "prs-5c7e0a"}, granted={"name": {"purposes": ["personalisation"]}}, refused=[],
                  jurisdiction="US-CA", language=None, accepted_terms=None, expires_at=None, decided_at="2026-11-21T10:00:05Z",
                  recorded_at="2026-11-21T10:00:05Z")
    narrowed_granted = {"email": {"purposes": ["service-provision", "customer-care"]}, "address": {"purposes": ["delivery-of-goods"]}}
    regiven = record("given", 0, GENESIS_HASH, record_id=_uuid(7), decided_at="2027-02-01T08:00:00Z", recorded_at="2027-02-01T08:00:00Z")
    first_refusal = record("refused", 0, GENESIS_HASH, record_id=_uuid(20), persona=None, granted={}, refused=ALL_CLAIMS, expires_at=None)
    superseding = follow(first_refusal, "superseded", 21, decided_at="2026-11-22T00:00:00Z", recorded_at="2026-11-22T00:00:00Z")
    second_refusal = {**first_refusal, "record_id": _uuid(22), "decided_at": "2026-11-22T00:00:01Z", "recorded_at": "2026-11-22T00:00:01Z"}
    valid = {
        "two-sites-and-a-new-lineage.json": (
            "One open lineage per relying party: the bookshop and the news site each have one; the bookshop's ends (withdrawn) "
            "before a new one starts. Rules ledger-one-open-lineage and lineage-same-party.",
            [given, news, follow(given, "withdrawn", 3, decided_at="2027-01-05T12:00:00Z", recorded_at="2027-01-05T12:00:00Z"), regiven],
        ),
        "expired-at-expires-at.json": (
            "A consent with expires_at expires at that moment, not earlier (lineage-expiry).",
            [given, follow(given, "expired", 4, decided_at="2027-11-20T09:15:41Z", recorded_at="2027-11-20T09:15:42Z")],
        ),
        "narrowed-by-one-purpose.json": (
            "A narrowing that removes only one purpose of one claim is a strict subset (lineage-narrowing-subset).",
            [given, follow(given, "narrowed", 5, persona=given["persona"], granted={**given["granted"], "email": {"purposes": ["service-provision"]}},
                           refused=[DIETARY], expires_at=given["expires_at"])],
        ),
        "refused-superseded-refused-given.json": (
            "A refusal's lineage ends (superseded) before the next refusal starts one; the person then reconsiders (refused -> given). "
            "refused holds every requested claim not granted, in every state (record-claims-decided).",
            [first_refusal, superseding, second_refusal,
             follow(second_refusal, "given", 23, persona=given["persona"], granted=given["granted"], refused=[DIETARY], collection_method="consent-screen",
                    expires_at="2027-12-02T18:40:00Z")],
        ),
    }
    invalid = {
        "narrowing-adds-special-category-claim.json": (
            "The narrowing removes birthdate but adds the special-category dietary preference the person had refused.",
            "lineage-narrowing-subset", "$[1].granted",
            [given, follow(given, "narrowed", 5, persona=given["persona"], granted={**narrowed_granted, DIETARY: {"purposes": ["personalisation"]}},
                           refused=["birthdate"], expires_at=given["expires_at"])],
        ),
        "narrowing-removes-nothing.json": (
            "A narrowing that grants exactly what the record it replaces granted.",
            "lineage-narrowing-subset", "$[1].granted",
            [given, follow(given, "narrowed", 5, persona=given["persona"], granted=given["granted"], refused=[DIETARY], expires_at=given["expires_at"])],
        ),
        "replaces-another-sites-record.json": (
            "The news site's withdrawal replaces the bookshop's record.",
            "lineage-same-party", "$[2].request.relying_party.client_id",
            [given, news, follow(given, "withdrawn", 3, subject=NEWS_SUB, request=copy.deepcopy(news_request), refused=["name"],
                                 jurisdiction="US-CA", decided_at="2027-01-05T12:00:00Z", recorded_at="2027-01-05T12:00:00Z")],
        ),
        "subject-changes-along-lineage.json": (
            "A renewal names another subject than the record it replaces.",
            "lineage-same-party", "$[1].subject",
            [given, follow(given, "renewed", 6, subject="pwc-someone-else", persona=given["persona"], granted=given["granted"], refused=[DIETARY])],
        ),
        "withdrawal-before-consent.json": (
            "The withdrawal is dated the day before the consent it withdraws.",
            "lineage-time-order", "$[1].decided_at",
            [given, follow(given, "withdrawn", 3, decided_at="2026-11-19T12:00:00Z", recorded_at="2026-11-19T12:00:00Z")],
        ),
        "duplicate-record-id.json": (
            "The news site's record reuses the record_id of the bookshop's.",
            "ledger-record-unique", "$[1].record_id",
            [given, {**news, "record_id": given["record_id"]}],
        ),
        "two-open-lineages-for-one-site.json": (
            "A second given record about the bookshop starts a new lineage while the first is still active.",
            "ledger-one-open-lineage", "$[1]",
            [given, regiven],
        ),
        "expired-without-expires-at.json": (
            "The consent had no expires_at, yet an expired record follows it.",
            "lineage-expiry", "$[1].state",
            [no_expiry, follow(no_expiry, "expired", 4, decided_at="2027-11-20T09:15:41Z", recorded_at="2027-11-20T09:15:41Z")],
        ),
        "expired-before-expires-at.json": (
            "The consent expires ten months before its expires_at.",
            "lineage-expiry", "$[1].decided_at",
            [given, follow(given, "expired", 4, decided_at="2027-01-20T09:15:41Z", recorded_at="2027-01-20T09:15:41Z")],
        ),
    }
    folder = OUT / "ledger"
    for name, (description, entries) in valid.items():
        chained = _rechain(entries)
        hashes = []
        head = GENESIS_HASH
        for entry in chained:
            head = chain_hash(entry, head)
            hashes.append(head)
        write(folder / "valid" / name, {"description": description, "genesis": GENESIS_HASH, "entries": chained, "expected_hashes": hashes, "head": head})
    for name, (description, rule, path, entries) in invalid.items():
        write(folder / "invalid" / name, {"description": description, "rule": rule, "path": path, "entries": _rechain(entries)})


def _rechain(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    head = GENESIS_HASH
    for sequence, entry in enumerate(entries):
        entry = {**entry, "sequence": sequence, "previous_hash": head}
        out.append(entry)
        head = chain_hash(entry, head)
    return out


if __name__ == "__main__":
    main()
