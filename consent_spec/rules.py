"""Rules of SPEC.md that JSON Schema cannot express (relations between members).

They run after a document has passed its schema, so each function may rely on the
structure the schema guarantees. Each returns a list of :class:`ValidationIssue`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .issues import ValidationIssue, format_path
from .ledger import GENESIS_HASH, chain_hash, ledger_head, verify_ledger
from .times import parse_date_time

Path = tuple[Any, ...]


def _before(earlier: Any, later: Any, *, strictly: bool = False) -> bool:
    """True when date-time ``later`` is before ``earlier`` (or equal, with ``strictly``).

    Values the schema has already checked always parse; should one not, no order
    can be told and nothing is reported here (the schema reports the format).
    """
    first, second = parse_date_time(earlier), parse_date_time(later)
    if first is None or second is None:
        return False
    return second <= first if strictly else second < first


def _issue(path: Path, message: str, rule: str) -> ValidationIssue:
    return ValidationIssue(format_path(path), message, rule)


def check_record(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Consent record rules (SPEC.md section 5.2)."""
    issues: list[ValidationIssue] = []
    requested = doc["request"]["claims"]
    granted = doc["granted"]
    refused = doc["refused"]
    for claim in granted:
        if claim not in requested:
            issues.append(_issue((*at, "granted", claim), "claim granted but not requested", "record-claims-requested"))
            continue
        allowed = set(requested[claim]["purposes"])
        for index, purpose in enumerate(granted[claim]["purposes"]):
            if purpose not in allowed:
                issues.append(
                    _issue((*at, "granted", claim, "purposes", index), f"purpose {purpose!r} was not requested for this claim", "record-purposes-requested")
                )
    for index, claim in enumerate(refused):
        if claim not in requested:
            issues.append(_issue((*at, "refused", index), "claim refused but not requested", "record-claims-requested"))
        if claim in granted:
            issues.append(_issue((*at, "refused", index), "claim both granted and refused", "record-granted-refused-disjoint"))
    # Rule 5.2.4: in every state, refused holds exactly the requested claims not granted.
    undecided = sorted(set(requested) - set(granted) - set(refused))
    if undecided:
        issues.append(
            _issue((*at, "refused"), f"every requested claim not granted must be listed in refused; missing: {', '.join(undecided)}", "record-claims-decided")
        )
    if doc["state"] in {"given", "renewed"}:
        for claim, ask in requested.items():
            if ask["essential"] and claim not in granted:
                issues.append(
                    _issue((*at, "granted"), f"essential claim {claim!r} is not granted; a decision that withholds an essential claim is a refusal", "record-essential-granted")
                )
    if doc["consent_type"] != "explicit":
        for claim in granted:
            if claim in requested and requested[claim]["sensitivity"] == "special-category":
                issues.append(
                    _issue((*at, "consent_type"), f"claim {claim!r} is special-category data (GDPR Art. 9) and needs explicit consent", "record-explicit-special-category")
                )
    if _before(doc["decided_at"], doc["recorded_at"]):
        issues.append(_issue((*at, "recorded_at"), "recorded_at is earlier than decided_at", "record-time-order"))
    if "expires_at" in doc and _before(doc["decided_at"], doc["expires_at"], strictly=True):
        issues.append(_issue((*at, "expires_at"), "expires_at must be later than decided_at", "record-time-order"))
    if doc.get("replaces") == doc["record_id"]:
        issues.append(_issue((*at, "replaces"), "a record cannot replace itself", "record-lineage"))
    if doc["sequence"] == 0 and doc["previous_hash"] != GENESIS_HASH:
        issues.append(_issue((*at, "previous_hash"), "the first ledger entry must have previous_hash of 64 zeros", "ledger-hash-link"))
    return issues


def check_receipt(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Consent receipt claims rules (SPEC.md section 7.2)."""
    record = doc["consent_record"]
    issues = check_record(record, (*at, "consent_record"))
    if doc["sub"] != record["subject"]:
        issues.append(_issue((*at, "sub"), "sub must equal consent_record.subject", "receipt-subject"))
    audiences = [doc["aud"]] if isinstance(doc["aud"], str) else doc["aud"]
    client_id = record["request"]["relying_party"]["client_id"]
    if client_id not in audiences:
        issues.append(_issue((*at, "aud"), f"aud must include the relying party's client_id {client_id!r}", "receipt-audience"))
    try:
        expected: str | None = chain_hash(record, record["previous_hash"])
    except ValueError as exc:  # not representable in JCS; validate() reports I-JSON problems first
        issues.append(_issue((*at, "consent_record"), str(exc), "receipt-record-hash"))
        expected = None
    if expected is not None and doc["record_hash"] != expected:
        issues.append(_issue((*at, "record_hash"), f"record_hash does not match the record (expected {expected})", "receipt-record-hash"))
    return issues


def check_withdrawal(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Withdrawal rules (SPEC.md section 9)."""
    issues = []
    if _before(doc["requested_at"], doc["effective_at"]):
        issues.append(_issue((*at, "effective_at"), "effective_at is earlier than requested_at", "withdrawal-time-order"))
    removes = doc.get("removes", {})
    for claim in removes.get("purposes", {}):
        if claim in removes.get("claims", []):
            issues.append(
                _issue((*at, "removes", "purposes", claim), "claim is removed entirely and also listed with purposes", "withdrawal-removes-disjoint")
            )
    return issues


def _terms_key(ref: dict[str, Any]) -> tuple[str, str, str]:
    return (ref["terms_id"], ref["version"], ref["roster"])


def check_person_terms(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Person's terms rules (SPEC.md section 10)."""
    issues = []
    seen: set[tuple[str, str, str]] = set()
    for index, ref in enumerate(doc["proffered"]):
        key = _terms_key(ref)
        if key in seen:
            issues.append(_issue((*at, "proffered", index), "the same agreement edition is proffered twice", "terms-proffered-unique"))
        seen.add(key)
    response = doc.get("response")
    if response is None:
        return issues
    if "accepted" in response and _terms_key(response["accepted"]) not in seen:
        issues.append(_issue((*at, "response", "accepted"), "the accepted agreement is not one the person proffered", "terms-accept-proffered"))
    if "alternative" in response and _terms_key(response["alternative"]) in seen:
        issues.append(
            _issue((*at, "response", "alternative"), "the alternative is one of the proffered agreements; answer 'accept' instead", "terms-alternative-new")
        )
    if _before(doc["proffered_at"], response["responded_at"]):
        issues.append(_issue((*at, "response", "responded_at"), "responded_at is earlier than proffered_at", "terms-time-order"))
    return issues


def check_catalogue(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Claims catalogue rules (SPEC.md section 11)."""
    issues = []
    for claim, description in doc["claims"].items():
        standard = "://" not in claim and not claim.startswith("urn:")
        if (description["source"] == "oidc-core") != standard:
            issues.append(
                _issue((*at, "claims", claim, "source"), "source must be 'oidc-core' exactly for OIDC standard claim names", "catalogue-source")
            )
    return issues


def check_profile(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Portable profile rules (SPEC.md section 12)."""
    issues = []
    for index, record in enumerate(doc["ledger"]):
        issues.extend(check_record(record, (*at, "ledger", index)))
    issues.extend(verify_ledger(doc["ledger"], path_prefix=(*at, "ledger")))
    try:
        head = ledger_head(doc["ledger"])
    except ValueError:
        head = None
    if head is not None and doc["ledger_head"] != head:
        issues.append(_issue((*at, "ledger_head"), f"ledger_head does not match the ledger (expected {head})", "profile-ledger-head"))
    ids = [persona["persona_id"] for persona in doc["personas"]]
    for index, persona_id in enumerate(ids):
        if persona_id in ids[:index]:
            issues.append(_issue((*at, "personas", index, "persona_id"), "persona_id repeats an earlier persona", "profile-persona-unique"))
    for index, terms in enumerate(doc["terms"]):
        issues.extend(check_person_terms(terms, (*at, "terms", index)))
    if "catalogue" in doc:
        issues.extend(check_catalogue(doc["catalogue"], (*at, "catalogue")))
    return issues


def check_event(doc: dict[str, Any], at: Path = ()) -> list[ValidationIssue]:
    """Consent event rules (SPEC.md section 13)."""
    issues = []
    for uri, payload in doc["events"].items():
        if "new_record_id" in payload and payload["record_id"] == payload["new_record_id"]:
            issues.append(_issue((*at, "events", uri, "new_record_id"), "new_record_id must differ from record_id", "event-records"))
    return issues


RULES: dict[str, Callable[[dict[str, Any]], list[ValidationIssue]]] = {
    "consent-record": check_record,
    "consent-receipt": check_receipt,
    "withdrawal": check_withdrawal,
    "person-terms": check_person_terms,
    "claims-catalogue": check_catalogue,
    "portable-profile": check_profile,
    "consent-event": check_event,
}
"""Rule function per document kind."""
