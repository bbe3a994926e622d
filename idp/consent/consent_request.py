"""Consent requests (consent_spec SPEC.md §4): what a relying party asks, claim by claim.

A request is assembled from the authorization request (scope values mapped
to claims by OIDC Core §5.4, and the ``claims`` parameter of §5.5 with its
``essential`` flags) and from what the relying party registered about each
claim in its client metadata: the ``consent`` registration extension
(purposes, retention, third-party disclosure, legal basis, jurisdiction,
contact). The extension is validated against the consent_spec
``consent-request`` schema at registration time, so an unregistered purpose is
refused with ``invalid_client_metadata`` before any person sees it.
"""

from __future__ import annotations

import json
import re
import uuid
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

import consent_spec
from idp.base.errors import InvalidAuthorizationDetailsError, InvalidClientMetadataError
from idp.profile.catalogue import BUILTIN, Catalogue
from idp.profile.claims import SCOPE_CLAIMS, STANDARD_CLAIMS, requested_claim_names
from idp.storage.models import Client

# Defaults for claims the RP did not describe: the narrowest honest reading of an OIDC
# login (the claim is used to provide the service the person signed in to).
DEFAULT_PURPOSES = {"email": ["service-provision", "customer-care"]}
DEFAULT_RETENTION = {"duration": "P1Y", "from": "end-of-relationship"}
EXTENSION = "consent"  # the client-metadata member holding the RP's registered consent terms
# What an RP may register about a claim (SPEC.md §4.1); sensitivity is the provider's to set.
CLAIM_MEMBERS = {
    "essential",
    "purposes",
    "retention",
    "third_party_disclosure",
    "legal_basis",
    "reason",
}
CONSENT_DETAIL_TYPE = (
    "https://porta.example/consent-spec/1.0/authorization-details/consent"  # SPEC.md §4.1.1
)
MAX_DETAILS = 10


def parse_authorization_details(raw: str | None) -> list[dict[str, Any]]:
    """The ``authorization_details`` parameter (RFC 9396 §2), checked; only the consent type."""
    if raw is None:
        return []
    try:
        details = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidAuthorizationDetailsError("authorization_details is not valid JSON") from exc
    if not isinstance(details, list) or not details or len(details) > MAX_DETAILS:
        raise InvalidAuthorizationDetailsError(
            f"authorization_details must be a JSON array of 1 to {MAX_DETAILS} objects"
        )
    for index, detail in enumerate(details):
        where = f"authorization_details[{index}]"
        if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
            raise InvalidAuthorizationDetailsError(f"{where} must be an object with a type")
        if detail["type"] != CONSENT_DETAIL_TYPE:
            raise InvalidAuthorizationDetailsError(
                f"{where}.type {detail['type']!r} is not supported"
            )
        claims = detail.get("claims")
        if not isinstance(claims, dict) or not claims:
            raise InvalidAuthorizationDetailsError(
                f"{where}.claims must be an object naming claims"
            )
        for name, spec in claims.items():
            if not is_consentable(name):
                raise InvalidAuthorizationDetailsError(
                    f"{where}.claims: {name!r} is not a claim name"
                )
            if not isinstance(spec, dict) or not isinstance(spec.get("purposes"), list):
                raise InvalidAuthorizationDetailsError(f"{where}.claims.{name} needs purposes")
            unknown = set(spec) - {"purposes", "essential", "retention", "reason"}
            if unknown:
                raise InvalidAuthorizationDetailsError(
                    f"{where}.claims.{name}: unknown member(s) {', '.join(sorted(unknown))}"
                )
    return details


def detail_claims(details: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Claim specifications asked for through consent authorization details."""
    merged: dict[str, dict[str, Any]] = {}
    for detail in details:
        merged.update(detail["claims"])
    return merged


def granted_details(request: dict[str, Any], granted: list[str]) -> list[dict[str, Any]]:
    """The request's authorization details narrowed to the granted claims (RFC 9396 §7)."""
    out = []
    for detail in request.get("authorization_details", []):
        kept = {name: spec for name, spec in detail.get("claims", {}).items() if name in granted}
        if kept:
            out.append({**detail, "claims": kept})
    return out


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


CUSTOM_CLAIM = re.compile(r"^(https://\S+|urn:[a-zA-Z0-9][a-zA-Z0-9-]{0,31}:\S+)$")


def is_consentable(name: str) -> bool:
    """A claim name the consent spec can carry: standard (OIDC Core §5.1) or URI-named (§5.1.2)."""
    return name in STANDARD_CLAIMS or (len(name) <= 2048 and bool(CUSTOM_CLAIM.match(name)))


def claims_requested(
    scopes: list[str], claims_parameter: dict[str, Any] | None
) -> tuple[list[str], set[str]]:
    """Claim names asked for (scope claims, then claims-parameter members) and the essential ones."""
    names: list[str] = []
    essential: set[str] = set()
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if claim not in names:
                names.append(claim)
    for member in ("id_token", "userinfo"):
        part = (claims_parameter or {}).get(member) or {}
        for claim in requested_claim_names([], part):
            if not is_consentable(claim):
                continue  # OIDC Core §5.5: claims the OP does not understand are ignored
            if claim not in names:
                names.append(claim)
            spec = part.get(claim)
            if isinstance(spec, dict) and spec.get("essential") is True:
                essential.add(claim)
    return names, essential


def _relying_party(client: Client) -> dict[str, Any]:
    meta = client.metadata_
    registered = meta.get(EXTENSION, {})
    party: dict[str, Any] = {
        "client_id": client.client_id,
        "name": meta.get("client_name") or client.client_id,
    }
    if meta.get("client_uri", "").startswith("https://"):
        party["url"] = meta["client_uri"]
    if meta.get("policy_uri", "").startswith("https://"):
        party["policy_url"] = meta["policy_uri"]
    for member in ("jurisdiction", "contact"):
        if member in registered:
            party[member] = registered[member]
    return party


def claim_entry(
    client: Client, claim: str, essential: bool, catalogue: Catalogue
) -> dict[str, Any]:
    """What the RP asks about one claim, from its registration or the defaults above.

    The sensitivity is the provider's, copied from its claims ``catalogue`` (SPEC.md §4.1,
    §11).
    """
    registered = client.metadata_.get(EXTENSION, {}).get("claims", {}).get(claim, {})
    # What the RP registered is taken as it is (validated at registration); defaults fill
    # only what it did not register, never a value it got wrong.
    entry: dict[str, Any] = {
        "essential": registered.get("essential", False) or essential,
        "purposes": deepcopy(
            registered.get("purposes", DEFAULT_PURPOSES.get(claim, ["service-provision"]))
        ),
        "retention": deepcopy(registered.get("retention", DEFAULT_RETENTION)),
        "sensitivity": catalogue.sensitivity(claim),
        "third_party_disclosure": deepcopy(
            registered.get("third_party_disclosure", {"disclosed": False})
        ),
    }
    for member in ("legal_basis", "reason"):
        if member in registered:
            entry[member] = registered[member]
    return entry


def build_request(
    client: Client,
    claim_names: list[str],
    essential: set[str],
    *,
    language: str = "en",
    now: datetime,
    details: list[dict[str, Any]] | None = None,
    catalogue: Catalogue,
) -> dict[str, Any]:
    """A consent-request document (SPEC.md §4.1) for these claims and authorization details."""
    registered = client.metadata_.get(EXTENSION, {})
    asked_in_details = detail_claims(details or [])
    names = list(claim_names) + [n for n in asked_in_details if n not in claim_names]
    claims = {}
    for name in names:
        entry = claim_entry(client, name, name in essential, catalogue)
        spec = asked_in_details.get(name)
        if spec is not None:  # SPEC.md §4.1.1: the details take precedence over registration
            entry["purposes"] = list(spec["purposes"])
            entry["essential"] = bool(spec.get("essential", False)) or name in essential
            for member in ("retention", "reason"):
                if member in spec:
                    entry[member] = spec[member]
        claims[name] = entry
    document: dict[str, Any] = {
        "$schema": consent_spec.schema_id("consent-request"),
        "spec_version": consent_spec.SPEC_VERSION,
        "request_id": str(uuid.uuid4()),
        "created_at": _timestamp(now),
        "relying_party": _relying_party(client),
        "legal_basis": registered.get("legal_basis", "consent"),
        "language": language,
        "claims": claims,
    }
    if registered.get("accepted_terms"):
        document["accepted_terms"] = registered["accepted_terms"]
    if details:
        document["authorization_details"] = details
    return document


def validate_registration(client_id: str, metadata: dict[str, Any]) -> None:
    """Check the ``consent`` registration extension against the consent-request schema.

    Raises ``invalid_client_metadata`` naming the offending member, e.g. a
    purpose outside the vocabulary of SPEC.md §4.2.
    """
    registered = metadata.get(EXTENSION)
    if registered is None:
        return
    if not isinstance(registered, dict):
        raise InvalidClientMetadataError(f"{EXTENSION}: must be a JSON object")
    unknown = set(registered) - {
        "claims",
        "legal_basis",
        "jurisdiction",
        "contact",
        "accepted_terms",
    }
    if unknown:
        raise InvalidClientMetadataError(
            f"{EXTENSION}: unknown member(s) {', '.join(sorted(unknown))}"
        )
    claims = registered.get("claims", {})
    if not isinstance(claims, dict):
        raise InvalidClientMetadataError(f"{EXTENSION}.claims: must be a JSON object")
    for name, entry in claims.items():
        if not isinstance(entry, dict):
            raise InvalidClientMetadataError(f"{EXTENSION}.claims.{name}: must be a JSON object")
        unknown = set(entry) - CLAIM_MEMBERS
        if unknown:
            raise InvalidClientMetadataError(
                f"{EXTENSION}.claims.{name}: unknown member(s) {', '.join(sorted(unknown))}"
            )
    fake = Client(client_id=client_id, metadata_=metadata)
    # Sensitivity is the provider's to set, not the site's: the built-in catalogue serves here.
    document = build_request(
        fake, list(claims) or ["name"], set(), now=datetime.now(UTC), catalogue=BUILTIN
    )
    for problem in consent_spec.validate(document, kind="consent-request"):
        path = str(problem.path).lstrip("$").lstrip(".")
        where = path.replace("relying_party.", "").replace("claims.", "claims.", 1)
        raise InvalidClientMetadataError(f"{EXTENSION}.{where}: {problem.message}")
